"""`aegis` command line: analyze, snapshot, verify, shadow list|gc, schema, demo, serve, mcp.

Exit codes: 0 diagnosed, 2 usage or input error, 3 cluster unreachable or forbidden.
A person's mistake is one line on stderr, never a traceback. Heavy imports (kubernetes-asyncio,
Slack, LangChain, the MCP SDK) happen only on the paths that use them, so `aegis analyze --snapshot` starts fast.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from aegis.core import config, telemetry
from aegis.core.errors import AegisError, UsageError
from aegis.core.kube.gateway import KubeGateway
from aegis.core.models import Diagnosis
from aegis.core.targets import USAGE, parse_target

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples" / "incidents"
DEMO_INCIDENT = "crashloop-missing-env"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse's default prints the whole usage; one line with the fix is what people read.
        self.exit(2, f"aegis: error: {message} (see `aegis {self.prog.split()[-1]} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aegis", description="AEGIS: diagnose broken Kubernetes workloads and propose safe fixes.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add_source(p: argparse.ArgumentParser) -> None:
        p.add_argument("target", help=USAGE)
        p.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")
        p.add_argument("--context", default=None, help="kubeconfig context to use")
        p.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: KUBECONFIG or ~/.kube/config)")

    analyze = sub.add_parser("analyze", help="diagnose a pod or workload and propose a fix")
    add_source(analyze)
    analyze.add_argument("--snapshot", metavar="DIR", default=None, help="read a snapshot directory instead of a cluster")
    analyze.add_argument("--output", "-o", choices=("text", "json"), default="text")
    analyze.add_argument(
        "--llm", metavar="PROVIDER:MODEL", default=None, help="refine with a language model, e.g. openai:gpt-4.1-mini (overrides AEGIS_LLM_MODEL)"
    )
    analyze.add_argument("--slack-preview", action="store_true", help="print the Slack messages as Block Kit JSON and a Block Kit Builder link")

    snapshot = sub.add_parser("snapshot", help="write a redacted snapshot of a target from a live cluster")
    add_source(snapshot)
    snapshot.add_argument("-o", "--output-dir", required=True, metavar="DIR")

    serve = sub.add_parser("serve", help="run the Slack bot (Socket Mode by default; --http for HTTP mode)")
    serve.add_argument("--http", action="store_true", help="HTTP mode: Slack posts to /slack/events (needs SLACK_SIGNING_SECRET)")
    serve.add_argument("--host", default=None, help="listen address (default AEGIS_HTTP_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default AEGIS_HTTP_PORT, 8080)")
    serve.add_argument("--snapshot", metavar="DIR", default=None, help="read-only: diagnose from a snapshot instead of a live cluster")
    serve.add_argument("--context", default=None, help="kubeconfig context to use")
    serve.add_argument("--kubeconfig", default=None, help="kubeconfig file")

    verify = sub.add_parser("verify", help="diagnose a target and prove its fix in a shadow copy (live cluster)")
    add_source(verify)
    verify.add_argument("--output", "-o", choices=("text", "json"), default="text")

    shadow = sub.add_parser("shadow", help="inspect or clean up shadow namespaces")
    shadow.add_argument("action", choices=("list", "gc"), help="list: every shadow namespace; gc: delete the expired ones")
    shadow.add_argument("--context", default=None, help="kubeconfig context to use")
    shadow.add_argument("--kubeconfig", default=None, help="kubeconfig file")

    mcp = sub.add_parser("mcp", help="serve AEGIS's tools to AI assistants over MCP (stdio by default; --http HOST:PORT)")
    mcp.add_argument("--http", metavar="HOST:PORT", default=None, help="serve streamable HTTP at http://HOST:PORT/mcp (needs AEGIS_MCP_TOKEN)")
    mcp.add_argument("--snapshot", metavar="DIR", default=None, help="read-only: serve a snapshot directory instead of a live cluster")
    mcp.add_argument("--context", default=None, help="default kubeconfig context (a tool call may name another)")
    mcp.add_argument("--kubeconfig", default=None, help="kubeconfig file")

    sub.add_parser("schema", help="print the JSON Schema of `analyze --output json`")

    demo = sub.add_parser("demo", help="diagnose a bundled example incident (no cluster, no Slack); --live: the whole story on a real control plane")
    demo.add_argument("--incident", default=DEMO_INCIDENT, help="example name under examples/incidents/")
    demo.add_argument("--output", "-o", choices=("text", "json"), default="text")
    demo.add_argument("--live", action="store_true", help="start the test control plane (make cluster), break the example, analyze, verify in shadow, apply")
    demo.add_argument("--out", default="build/demo-live", metavar="DIR", help="with --live: where each Slack message's Block Kit JSON is written")
    demo.add_argument("--keep", action="store_true", help="with --live: keep the control plane's files (logs, kubeconfigs) afterwards")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = config.load(**({"llm_model": args.llm} if getattr(args, "llm", None) else {}))
        # A one-shot command prints its result; its own progress logs are only wanted when asked for.
        level = settings.log_level if "log_level" in settings.model_fields_set or args.command in ("serve", "mcp") else "warning"
        telemetry.configure_logging(settings.log_format, level)
        if args.command != "serve":
            telemetry.disable_metrics()  # nothing scrapes a one-shot command; prometheus-client is not even imported
        _startup_done()
        return asyncio.run(_dispatch(args, settings))
    except AegisError as exc:
        print(f"aegis: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `aegis analyze ... | head`: the reader left; not an error worth a traceback.
        sys.stderr.close()
        return 0


def _startup_done() -> None:
    """Start-up's objects live until exit: freeze them, then collect only what the command creates.

    The `aegis` entry point (bot/entry.py) turns the collector off while the modules load; a caller
    that left it on (a test calling main) is left as it is.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


async def _dispatch(args: argparse.Namespace, settings: config.Settings) -> int:
    if args.command == "schema":
        from aegis.core.report import json_schema

        print(json_schema())
        return 0
    if args.command == "demo" and args.live:
        from aegis.bot.demo import live as demo_live

        return await demo_live.run(settings, incident_name=args.incident, out_dir=Path(args.out), keep=args.keep)
    if args.command == "demo":
        incident = EXAMPLES_DIR / args.incident
        expected = _read_expected(incident)
        return await _analyze(
            f"{expected['target']['kind'].lower()}/{expected['target']['name']}",
            expected["target"]["namespace"],
            str(incident / "snapshot"),
            None,
            None,
            args.output,
            settings,
        )
    if args.command == "analyze":
        output = "slack" if args.slack_preview else args.output
        return await _analyze(args.target, args.namespace, args.snapshot, args.context, args.kubeconfig, output, settings)
    if args.command == "snapshot":
        return await _snapshot(args, settings)
    if args.command == "verify":
        from aegis.bot import verify_cli

        gateway = await _open_gateway(None, args.context, args.kubeconfig, settings)
        try:
            return await verify_cli.verify(gateway, parse_target(args.target, args.namespace), settings, args.output)
        finally:
            await gateway.close()
    if args.command == "shadow":
        from aegis.bot import verify_cli

        gateway = await _open_gateway(None, args.context, args.kubeconfig, settings)
        try:
            return await verify_cli.shadow(gateway, args.action)
        finally:
            await gateway.close()
    if args.command == "serve":
        from aegis.bot import serve

        gateway = await _open_gateway(args.snapshot, args.context, args.kubeconfig, settings)
        await serve.run(settings, gateway=gateway, http=args.http, host=args.host or settings.http_host, port=args.port or settings.http_port)
        return 0
    if args.command == "mcp":
        from aegis.bot.mcp import server as mcp_server

        await mcp_server.run(settings, snapshot=args.snapshot, kubeconfig=args.kubeconfig, context=args.context, http=args.http)
        return 0
    raise UsageError(f"unknown command {args.command}")


async def _open_gateway(snapshot: str | None, context: str | None, kubeconfig: str | None, settings: config.Settings) -> KubeGateway:
    if snapshot:
        from aegis.core.kube.snapshot import SnapshotGateway

        return SnapshotGateway.open(snapshot)
    from aegis.core.kube.live import LiveGateway

    return await LiveGateway.connect(kubeconfig=kubeconfig or settings.kubeconfig, context=context or settings.kube_context, in_cluster=settings.in_cluster)


async def _analyze(
    target_text: str,
    namespace: str | None,
    snapshot: str | None,
    context: str | None,
    kubeconfig: str | None,
    output: str,
    settings: config.Settings,
) -> int:
    from aegis.core.investigator import Investigator

    target = parse_target(target_text, namespace)
    gateway = await _open_gateway(snapshot, context, kubeconfig, settings)
    try:
        investigator = Investigator(gateway, policy=settings.analysis_policy, log_tail_lines=settings.log_tail_lines, settings=settings)
        diagnosis = await investigator.investigate(target)
    finally:
        await gateway.close()
    if output == "json":
        from aegis.core.report import to_json

        print(to_json(diagnosis))
    elif output == "slack":
        print(_slack_preview(diagnosis))
    else:
        from aegis.bot.render.terminal import print_report

        print_report(diagnosis)
    return 0


async def _snapshot(args: argparse.Namespace, settings: config.Settings) -> int:
    from aegis.core.evidence import snapshot_writer
    from aegis.core.investigator import Investigator

    target = parse_target(args.target, args.namespace)
    gateway = await _open_gateway(None, args.context, args.kubeconfig, settings)
    try:
        bundle, notes = await Investigator(gateway, log_tail_lines=settings.log_tail_lines).collect(target)
    finally:
        await gateway.close()
    written = snapshot_writer.write(bundle, Path(args.output_dir))
    print(f"wrote {len(written)} files to {args.output_dir} ({len(bundle.all_objects())} objects, {len(bundle.logs)} logs; secret values redacted)")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _slack_preview(diagnosis: Diagnosis) -> str:
    """The parent message and the diagnosis reply as Slack would receive them, plus Builder links."""
    from aegis.bot.render import blocks
    from aegis.core.models import Incident, IncidentId, IncidentSource, IncidentState

    incident = Incident(
        id=IncidentId("INC-preview"),
        source=IncidentSource.CLI,
        state=IncidentState.DIAGNOSED,
        title=f"{diagnosis.rca.category.value} on {diagnosis.target.name}",
        target=diagnosis.target,
        diagnosis=diagnosis,
        created_at=diagnosis.analyzed_at,
        updated_at=diagnosis.analyzed_at,
    )
    messages = {"parent": blocks.parent(incident), "diagnosis_reply": blocks.diagnosis_reply(incident, diagnosis)}
    out = {name: {**m.model_dump(), "block_kit_builder": blocks.block_kit_builder_url(m)} for name, m in messages.items()}
    return json.dumps(out, indent=2, ensure_ascii=False)


def _read_expected(incident: Path) -> dict[str, dict[str, str]]:
    path = incident / "expected.json"
    try:
        data: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"no example incident at {incident} ({exc}); see examples/incidents/") from exc
    return data


if __name__ == "__main__":
    sys.exit(main())
