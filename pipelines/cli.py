"""The `welfare` command line: a thin front on the same Dagster job and the same functions."""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import getpass
import os
import sys
from pathlib import Path

from pipelines.defs.jobs import REBUILD_LAKE_JOB, WAREHOUSE_JOB
from pipelines.defs.progress import show_on_terminal
from pipelines.defs.runner import import_for_runs, run_job, run_pipeline, run_sent_files
from pipelines.defs.summary import format_summary
from pipelines.extracts.package import build_extract, describe_extract
from pipelines.extracts.spec import SpecError, extractable_marts, load_spec
from pipelines.foundation.disk import DiskFull, disk_trouble
from pipelines.foundation.processes import process_age
from pipelines.foundation.settings import (
    CODE_PATHS,
    EngineError,
    HomeError,
    Settings,
    TodayError,
    WebSettings,
    today,
)
from pipelines.foundation.standing import code_fingerprint
from pipelines.foundation.standing import serve as serve_standing
from pipelines.home import prepare
from pipelines.ingest.closing import ClosingError, reopen_year
from pipelines.ingest.contract import SOURCE_KEYS
from pipelines.ingest.diff import diff_files, format_diff
from pipelines.ingest.lookup import NotFound
from pipelines.ingest.release import ReleaseError, release_submission
from pipelines.ingest.review import APPROVED, DECISIONS, RETURNED, ReviewError, review_submission
from pipelines.ingest.run_failures import record_run_failure
from pipelines.ingest.sample import load_sample
from pipelines.intake.space import disk_full_message
from pipelines.intake.validation import format_validation, validate_file
from pipelines.reporting.charts import JapaneseFontMissing
from pipelines.reporting.overview import build_overview
from pipelines.warehouse.dbt import dbt_by_hand, manifest_of, run_dbt
from pipelines.warehouse.engine import published_location
from pipelines.warehouse.history import PublishedHistory
from pipelines.warehouse.publication import NotPublished
from pipelines.warehouse.vintages import (
    VintageError,
    close_year,
    create_vintage,
    list_vintages,
    rollback_keeping_closed_years,
)
from pipelines.web.accounts import AccountError, AccountStore
from pipelines.web.reminders import describe, send_reminders, tell_returned
from pipelines.web.submitters import all_submitters, submitter

EPILOG = """\
Everything lives under WELFARE_HOME (default ./data): landing/<source>/ for new files,
archive/, lake/, the published warehouse.duckdb, published/ Parquet, dagster/ history.
"""


def _settings() -> Settings:
    return Settings.from_env()


def cmd_prepare(args: argparse.Namespace) -> int:
    settings = _settings()
    prepare(settings, say=print)
    print(f"WELFARE_HOME ready: {settings.home}")
    return 0


def cmd_load_sample(args: argparse.Namespace) -> int:

    settings = _settings().ensure()
    copied = load_sample(settings)
    print(f"Copied {len(copied)} sample submission(s) into {settings.landing}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    show_on_terminal(sys.stdout)  # bound now: dbt's output is redirected to the log later
    settings = _settings()
    if args.sent:
        summaries = run_sent_files(
            settings,
            # Many such processes write one log: each says when it spoke.
            say=lambda line: print(
                f"[{dt.datetime.now().astimezone():%Y-%m-%d %H:%M:%S %z}] {line}"
            ),
            prepare=lambda: prepare(settings, wait=False, say=print),
        )
        return 0 if all(s.success and not s.checks_failed for s in summaries) else 1
    # A dbt parse (a new home, changed models) runs while Dagster is imported.
    parse = prepare(settings, wait=False, say=print)
    print(f"Running the warehouse job for {settings.home} ...")
    summary = run_pipeline(
        settings,
        force=args.force,
        full_refresh=args.full_refresh,
        parse=parse,
        # Python, the command's imports, the home's preparation: before the run's own work.
        timings=[("starting", process_age() or 0.0)],
    )
    print(format_summary(summary, settings))
    if summary.disk_full:
        return 3
    return 0 if summary.success and not summary.checks_failed else 1


def cmd_validate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(
            f"{path}: ファイルがありません。 / No such file (give the path of a .csv or .xlsx).",
            file=sys.stderr,
        )
        return 2
    report = validate_file(path, args.source, previous=PublishedHistory(_settings()))
    print(format_validation(report, limit=args.limit))
    return 1 if report.result.status == "rejected" or report.check.held else 0


def cmd_release(args: argparse.Namespace) -> int:

    try:
        done = release_submission(_settings(), args.submission, args.by, args.reason)
    except (ReleaseError, NotFound) as error:
        print(error, file=sys.stderr)
        return 1
    print(
        f"解除しました / Released: {done.source}/{done.file_name} ({done.sha256[:12]}) "
        f"by {done.released_by}: {done.reason}\n"
        "次回の実行で集計に入ります。 / The next `welfare run` puts its figures in the marts."
    )
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    decision = APPROVED if args.approve else RETURNED
    try:
        done = review_submission(_settings(), args.submission, decision, args.by, args.comment)
    except (ReviewError, NotFound) as error:
        print(error, file=sys.stderr)
        return 1
    ja, en = DECISIONS[decision]
    print(f"{ja} / {en}: {done.source}/{done.file_name} ({done.sha256[:12]}) by {done.reviewed_by}")
    if decision == RETURNED:
        print(
            "次回の実行から、このファイルは数えません（前の版があればそれを数えます）。送った人の"
            "ページにコメントが出ます。 / From the next run this file does not count (an "
            "earlier version, if any, does); the sender sees the comment on their page."
        )
        try:
            told = tell_returned(_settings(), done)
        except OSError as error:
            print(f"The e-mail to the sender could not be sent: {error}", file=sys.stderr)
        else:
            if told:
                print(f"E-mailed the comment to {', '.join(told)}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    try:
        print(format_diff(diff_files(_settings(), args.old, args.new), limit=args.limit))
    except NotFound as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def cmd_close_year(args: argparse.Namespace) -> int:
    try:
        closing, vintage = close_year(_settings(), args.fiscal_year, args.by, args.reason)
    except (ClosingError, VintageError, NotPublished) as error:
        print(error, file=sys.stderr)
        return 1
    print(
        f"{closing.fiscal_year}年度を確定しました / FY{closing.fiscal_year} closed by "
        f"{closing.acted_by}. Vintage kept: {vintage.name} ({vintage.path})\n"
        "これ以後に届いたこの年度のファイルは、再開か個別の解除（welfare release）まで数えません。"
        " / Files for this year that come from now on count only once the year is reopened or "
        "that file is released (welfare release)."
    )
    return 0


def cmd_reopen_year(args: argparse.Namespace) -> int:
    try:
        settings = _settings()
        event = reopen_year(settings, args.fiscal_year, args.by, args.reason)
    except ClosingError as error:
        print(error, file=sys.stderr)
        return 1
    print(
        f"{event.fiscal_year}年度を再開しました / FY{event.fiscal_year} reopened by "
        f"{event.acted_by}. 次回の実行で、確定後に届いたファイルが数えられます。 / The next run "
        "counts the files that came after its closing; the closing's vintage stays."
    )
    return 0


def cmd_vintage(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.action == "create":
        try:
            vintage = create_vintage(settings, args.name, args.by, args.note)
        except (VintageError, NotPublished) as error:
            print(error, file=sys.stderr)
            return 1
        print(f"Vintage kept: {vintage.name} ({vintage.path})")
        return 0
    vintages = list_vintages(settings)
    if not vintages:
        print(
            "保存された版はまだありません（年度を締めると作られます）。 / No vintages kept yet: "
            "closing a fiscal year keeps one (welfare close-year), or `welfare vintage create`."
        )
    for vintage in vintages:
        m = vintage.manifest
        year = f"  FY{m['fiscal_year']} closed" if m.get("fiscal_year") else ""
        print(
            f"{vintage.name}\t{m['created_at']}\t{m['created_by']}\tversion "
            f"{m['warehouse_version']}{year}\t{m['note']}\n"
            f"    ATTACH '{vintage.path / 'warehouse.duckdb'}' AS v (READ_ONLY);"
        )
    return 0


def cmd_remind(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        result = send_reminders(settings, dry_run=args.dry_run)
    except (NotPublished, ValueError, OSError) as error:
        print(f"REMINDERS NOT SENT: {error}", file=sys.stderr)
        return 1
    verb = "would send" if args.dry_run else "sent"
    print(f"Reminders for {today():%Y-%m-%d}: {len(result.sent)} {verb}")
    for line in describe(result, dry_run=args.dry_run):
        print(line)
    return 1 if result.failed else 0


def cmd_rebuild_lake(args: argparse.Namespace) -> int:

    show_on_terminal(sys.stdout)
    settings = _settings()
    prepare(settings, say=print)
    print(f"Rebuilding {settings.lake} from {settings.archive} ...")
    result = run_job(settings, REBUILD_LAKE_JOB)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data.error:
                print(f"FAILED: {event.step_failure_data.error.message.strip()}", file=sys.stderr)
        print("The lake was left as it was.", file=sys.stderr)
        return 1
    print(
        "Done. `welfare run` publishes what changed (nothing, when the contracts and suites "
        "are those the published version was built with)."
    )
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:

    settings = _settings()
    try:
        restored = rollback_keeping_closed_years(settings)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Restored the version of {restored} as {published_location(settings)}")
    return 0


def cmd_dbt_docs(args: argparse.Namespace) -> int:

    settings = _settings()
    prepare(settings)
    generated = run_dbt(settings, ["docs", "generate"], quiet=False)
    print(generated.stdout[-2000:])
    if generated.returncode != 0 or not args.serve:
        return generated.returncode
    return run_dbt(
        settings,
        ["docs", "serve", "--host", "127.0.0.1", "--port", str(args.port), "--no-browser"],
        quiet=False,
        capture=False,
    ).returncode


def cmd_dbt(args: argparse.Namespace) -> int:
    """dbt itself, with this home's paths and target (what a run gives it): for a developer
    or an analyst trying a model or a test by hand. It writes to the working database only."""
    settings = _settings()
    prepare(settings)
    return dbt_by_hand(settings, args.dbt_args)


def cmd_extract(args: argparse.Namespace) -> int:

    settings = _settings().ensure()
    try:
        spec = load_spec(Path(args.spec), extractable_marts(manifest_of(settings)))
    except SpecError as error:
        print(f"REFUSED: {error}", file=sys.stderr)
        return 2
    print(f"extract {spec.name}: {len(spec.tables)} table(s) for {spec.requester}")
    try:
        result = build_extract(settings, spec, requested_by=args.by, vintage=args.vintage)
    except SpecError as error:  # tables that would give away a hidden cell together
        print(f"REFUSED: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, RuntimeError, VintageError) as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print(describe_extract(result))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    try:
        path, _ = build_overview(_settings(), force=True)
    except (FileNotFoundError, JapaneseFontMissing) as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Report (年次概要): {path}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """A standing process for this home's runs (pipelines.foundation.standing): each
    `welfare run` here started with the same code and settings becomes a fork of it instead of
    a new process (the page's runs and the daemon's are processes of their own)."""
    started_with = dict(os.environ)  # before any library sets its own variables
    settings = _settings()
    prepare(settings, say=print)
    print("Importing what a run needs (Dagster, dbt, great-expectations, matplotlib) ...")
    import_for_runs()

    def keep_going(idle: float) -> bool:
        if not settings.home.is_dir():
            print(f"{settings.home} is gone: stopping", flush=True)
            return False
        if args.idle is not None and idle >= args.idle:
            print(f"no run for {idle:.0f} s (--idle {args.idle:g}): stopping", flush=True)
            return False
        return True

    return serve_standing(
        str(settings.home),
        code=lambda: code_fingerprint(CODE_PATHS),
        run=lambda argv: main(argv[1:]),
        keep_going=keep_going,
        say=lambda line: print(f"[{dt.datetime.now().astimezone():%H:%M:%S}] {line}", flush=True),
        env=started_with,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from pipelines.web.server import NotPrivate, serve  # Flask, waitress

    try:
        serve(_settings().ensure(), args.host, args.port, behind_proxy=args.proxy)
    except NotPrivate as error:
        print(error, file=sys.stderr)
        return 2
    return 0


def _new_password(args: argparse.Namespace) -> str:

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (12 characters or more, hard to guess): ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:

    settings = _settings()
    store = AccountStore(WebSettings.from_env(settings).accounts_db)
    try:
        if args.action == "add":
            if submitter(args.submitter) is None:
                codes = ", ".join(f"{s.code} ({s.name})" for s in all_submitters())
                print(f"Unknown submitter {args.submitter!r}. One of: {codes}", file=sys.stderr)
                return 2
            account = store.add(
                args.username,
                _new_password(args),
                args.submitter,
                "admin" if args.admin else "submitter",
                args.name,
                args.email,
            )
            print(f"Added {account.username} ({account.role}) for {args.submitter}")
        elif args.action == "password":
            store.set_password(args.username, _new_password(args))
            print(f"New password for {args.username}; its sessions have ended")
        elif args.action == "email":
            store.set_email(args.username, args.address)
            print(f"{args.username}: reminders go to {args.address or 'nobody'}")
        elif args.action in ("disable", "enable"):
            store.set_active(args.username, args.action == "enable")
            print(f"{args.username}: {args.action}d")
        else:
            for account in store.all():
                state = "" if account.active else "  (disabled)"
                print(
                    f"{account.username}\t{account.role}\t{account.submitter_code}\t"
                    f"{account.display_name}\t{account.email or '-'}{state}"
                )
    except (AccountError, ValueError) as error:
        print(f"REFUSED: {error}", file=sys.stderr)
        return 2
    return 0


def _count(text: str) -> int:
    """A number of things to show: 0 or more."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="welfare",
        description="welfare-warehouse: community-welfare survey pipeline and warehouse.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "prepare", help="set up WELFARE_HOME: folders, dagster.yaml, lake, dbt manifest"
    ).set_defaults(func=cmd_prepare)
    commands.add_parser(
        "load-sample", help="copy the shipped sample submissions into the landing folder"
    ).set_defaults(func=cmd_load_sample)
    run = commands.add_parser(
        "run",
        help="run the whole pipeline once through Dagster (ingest, dbt build, checks, "
        "publish), print a summary; exit 1 if any step or blocking check failed; when nothing "
        "is new it stops at once",
    )
    run.add_argument("--force", action="store_true", help="run the job even when nothing is new")
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental models whole instead of only what new files changed "
        "(the same tables; done by itself when models or rules changed); implies --force",
    )
    run.add_argument(
        "--sent",
        action="store_true",
        help="what the submission page starts when a file is sent: run for the files waiting "
        "in landing/ unless another run has them, after any run going, until none is waiting",
    )
    run.set_defaults(func=cmd_run)
    validate = commands.add_parser(
        "validate",
        help="check a file before sending it: what would load, be quarantined, held or "
        "rejected (writes nothing; exit 1 if the file would be rejected or held)",
    )
    validate.add_argument("file", help="the .xlsx or .csv file to check")
    validate.add_argument(
        "--source",
        choices=SOURCE_KEYS,
        help="which survey the file is (guessed from its headers if omitted)",
    )
    validate.add_argument(
        "--limit",
        type=int,
        default=50,
        help="show at most this many quarantined cells (default 50)",
    )
    validate.set_defaults(func=cmd_validate)
    docs = commands.add_parser(
        "dbt-docs", help="generate the dbt docs (every model and column) and optionally serve them"
    )
    docs.add_argument("--serve", action="store_true", help="serve them on 127.0.0.1")
    docs.add_argument("--port", type=int, default=8080)
    docs.set_defaults(func=cmd_dbt_docs)
    dbt = commands.add_parser(
        "dbt",
        help="dbt with this home's paths and target, e.g. `welfare dbt test --select "
        "test_type:unit` (the models' unit tests); it builds into the working database, never "
        "the published one",
    )
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, help="dbt's own arguments")
    dbt.set_defaults(func=cmd_dbt)
    extract = commands.add_parser(
        "extract",
        help="build a researcher's extract package from a spec (CSV, Parquet, dictionary, "
        "README, manifest, zip) with small counts hidden; logged in audit.extracts",
    )
    extract.add_argument("spec", help="the extract spec, e.g. sources/extracts/<name>.yml")
    extract.add_argument("--by", help="who is making it (default: the login name)")
    extract.add_argument(
        "--vintage",
        help="build it from a vintage kept for good (welfare vintage list) instead of the "
        "published warehouse: the same spec on the same vintage gives the same tables",
    )
    extract.set_defaults(func=cmd_extract)
    commands.add_parser(
        "report",
        help="(re)build the annual overview, reports/overview.html, from the published warehouse",
    ).set_defaults(func=cmd_report)
    commands.add_parser(
        "rebuild-lake",
        help="derive the whole lake again from archive/ with today's contracts and suites "
        "(after a contract change, or to recover a lost or damaged lake)",
    ).set_defaults(func=cmd_rebuild_lake)
    commands.add_parser(
        "rollback", help="put the previously published warehouse back in place"
    ).set_defaults(func=cmd_rollback)
    release = commands.add_parser(
        "release",
        help="let a held submission load as it is, once its values are confirmed with the "
        "sender, or accept one file that came after its fiscal year was closed (recorded: "
        "who, when, why); the next run shows its figures",
    )
    release.add_argument("submission", help="the file's name or its SHA-256")
    release.add_argument("--by", required=True, help="who confirmed it (your name)")
    release.add_argument("--reason", required=True, help="what was confirmed, and with whom")
    release.set_defaults(func=cmd_release)
    review = commands.add_parser(
        "review",
        help="the council's review of a received file: approve it (承認) or return it to its "
        "sender with a comment (差し戻し: it stops counting from the next run); recorded",
    )
    review.add_argument("submission", help="the file's name or its SHA-256")
    decision = review.add_mutually_exclusive_group(required=True)
    decision.add_argument("--approve", action="store_true", help="approve it (承認)")
    decision.add_argument("--return", dest="return_", action="store_true", help="return it")
    review.add_argument("--by", required=True, help="who reviews it (your name)")
    review.add_argument(
        "--comment", default="", help="what the sender should correct (required to return)"
    )
    review.set_defaults(func=cmd_review)
    diff = commands.add_parser(
        "diff",
        help="what changed between two files of one survey (a correction and the file it "
        "replaces): rows added, removed and changed by the row's identity, and the totals",
    )
    diff.add_argument("old", help="the earlier file's name or SHA-256")
    diff.add_argument("new", help="the later file's name or SHA-256")
    diff.add_argument("--limit", type=_count, default=50, help="rows shown of each kind")
    diff.set_defaults(func=cmd_diff)
    close = commands.add_parser(
        "close-year",
        help="close a fiscal year once its annual report is out: its figures as published "
        "become final and are kept as a vintage; later files for it count only if released",
    )
    close.add_argument("fiscal_year", type=int, help="the fiscal year, e.g. 2024 (令和6年度)")
    close.add_argument("--by", required=True, help="who closes it (your name)")
    close.add_argument("--reason", required=True, help="why, e.g. the report it was printed in")
    close.set_defaults(func=cmd_close_year)
    reopen = commands.add_parser(
        "reopen-year",
        help="reopen a closed fiscal year (recorded): files that came after its closing count "
        "from the next run",
    )
    reopen.add_argument("fiscal_year", type=int)
    reopen.add_argument("--by", required=True, help="who reopens it (your name)")
    reopen.add_argument("--reason", required=True, help="why")
    reopen.set_defaults(func=cmd_reopen_year)
    vintage = commands.add_parser(
        "vintage", help="vintages: named copies of the published warehouse kept for good"
    )
    vintage_actions = vintage.add_subparsers(dest="action", required=True, metavar="ACTION")
    keep = vintage_actions.add_parser("create", help="keep the published warehouse as NAME")
    keep.add_argument("name", help="letters, digits, '.', '_', '-' (e.g. FY2024-report)")
    keep.add_argument("--by", required=True, help="who keeps it (your name)")
    keep.add_argument("--note", required=True, help="why it is kept")
    vintage_actions.add_parser("list", help="the vintages kept, and how to open each")
    vintage.set_defaults(func=cmd_vintage)
    remind = commands.add_parser(
        "remind",
        help="e-mail each submitter whose expected submission has not come, at the calendar's "
        "steps (14 and 3 days before the due date, on it, every 7 days after); each once",
    )
    remind.add_argument(
        "--dry-run", action="store_true", help="list what would be sent; send and record nothing"
    )
    remind.set_defaults(func=cmd_remind)
    serve = commands.add_parser(
        "serve",
        help="the submission page for ward staff (send a file, see what became of it) on "
        "http://127.0.0.1:8000 by default",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--proxy",
        action="store_true",
        help="behind a reverse proxy: trust one hop of X-Forwarded-For/-Proto/-Host",
    )
    serve.set_defaults(func=cmd_serve)
    worker = commands.add_parser(
        "worker",
        help="keep a process ready for this home's runs (Dagster, dbt, great-expectations "
        "imported once): each `welfare run` here started with the same code and settings is a "
        "fork of it, seconds sooner; started again by itself when the code changes",
    )
    worker.add_argument(
        "--idle", type=float, metavar="SECONDS", help="stop after this long without a run"
    )
    worker.set_defaults(func=cmd_worker)
    users = commands.add_parser("users", help="accounts of the submission page")
    user_actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = user_actions.add_parser("add", help="add an account (asks for its password)")
    add.add_argument("username")
    add.add_argument(
        "--submitter",
        required=True,
        help="the ward code (e.g. 271276 for 北区), shisetsukyo, volunteer_centre or "
        "planning_unit: what the account may send and see",
    )
    add.add_argument("--name", help="the person's name as shown on the page")
    add.add_argument("--admin", action="store_true", help="council staff: see every submitter")
    add.add_argument("--email", help="where the submitter's reminders go")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    password = user_actions.add_parser("password", help="set a new password (ends its sessions)")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    email = user_actions.add_parser("email", help="set where an account's reminders go")
    email.add_argument("username")
    email.add_argument("address", nargs="?", default="", help="the address (none: no reminders)")
    for action in ("disable", "enable"):
        user_actions.add_parser(action, help=f"{action} an account").add_argument("username")
    user_actions.add_parser("list", help="list the accounts")
    users.set_defaults(func=cmd_users)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (EngineError, TodayError, HomeError) as error:  # WELFARE_ENGINE, _TODAY or _HOME
        print(error, file=sys.stderr)
        return 2
    except Exception as error:
        settings = _settings()
        if not disk_trouble(error, settings.home):
            raise
        print(
            str(error)
            if isinstance(error, DiskFull)
            else disk_full_message(
                settings,
                detail=f"{type(error).__name__}: {error}",
                again=f"welfare {args.command}",  # its arguments may hold what is not shown
            ),
            file=sys.stderr,
        )
        _record_refusal(settings, str(error))
        return 3


def _record_refusal(settings: Settings, message: str) -> None:
    """Record the failure with the other failed runs (audit.run_failures), when the disk lets."""
    try:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        record_run_failure(settings, f"disk-full-{stamp}", WAREHOUSE_JOB, [], message)
    except Exception:
        pass


def entry() -> None:
    """The `welfare` command. Once a command has finished, Python's own teardown of what it
    loaded (Dagster, dbt, great-expectations, pandas) takes two seconds and does nothing the
    command needs: exit handlers run, output and logs are flushed, and the process ends."""
    end_process(main())


def end_process(code: int | None) -> None:
    """Exit handlers, then the process ends at once (see :func:`entry`)."""
    atexit._run_exitfuncs()  # temporary directories, file locks, logging's last flush
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code or 0))


if __name__ == "__main__":
    entry()
