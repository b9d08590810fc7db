"""The submission page (`welfare serve`): ward staff send files and see what became of them."""
