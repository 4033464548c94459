"""`stagger inventory vcenter|rvtools` and `stagger audit`: parse, call the library, render."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.table import Table

from stagger.atomic import OutputSet, check_target, write_text_atomic
from stagger.audit import CHECKS, AuditReport, AuditSettings, audit, parse_fail_on
from stagger.cli.app import app, console, err_console, handle_errors
from stagger.cli.common import raid_map_option
from stagger.cli.text import as_text
from stagger.cli.vcenter_options import (
    VCenterArgs,
    print_warnings,
    read_estate,
    vcenter_options,
)
from stagger.errors import ExitCode, InputError, SourceProtocolError
from stagger.mail import (
    DEFAULT_SUBJECT,
    Security,
    SmtpSettings,
    build_message,
    check_address,
    check_subject_prefix,
    parse_smtp_server,
    send,
)
from stagger.model.infrastructure import Infrastructure
from stagger.model.topology import Topology
from stagger.sources.raidmap import apply_raid_map_file
from stagger.sources.vcenter_proxies import (
    DerivedInfrastructure,
    ProxySelection,
    TransportChoice,
    derive_infrastructure,
    parse_selection,
    parse_transport,
    render_infrastructure,
    transport_for,
)
from stagger.sources.yamlfile import dump_yaml, load_infrastructure

inventory_app = typer.Typer(
    help="Read the estate from vCenter/ESXi or an RVTools export into a topology file.",
    no_args_is_help=True,
)
app.add_typer(inventory_app, name="inventory")


def _warn(warnings: list[str]) -> None:
    print_warnings(warnings)  # names as text, never Rich markup


def _with_raid_map(topo: Topology, raid_map: Path | None) -> Topology:
    if raid_map is None:
        return topo
    res = apply_raid_map_file(topo, raid_map)
    for m in res.unused_members:
        err_console.print(
            f"[yellow]warning:[/] raid map member matches no datastore: {as_text(m)}",
            highlight=False,
        )
    if res.unmapped:
        listed = ", ".join(res.unmapped[:8]) + (" ..." if len(res.unmapped) > 8 else "")
        err_console.print(
            f"[yellow]warning:[/] {len(res.unmapped)} datastores in no RAID group "
            f"(only datastore and host limits apply): {as_text(listed)}",
            highlight=False,
            soft_wrap=True,
        )
    return res.topology


def _summary(topo: Topology, out: Path | None, extra: str = "") -> None:
    tbl = Table(title="Inventory", show_header=False, title_justify="left")
    tbl.add_column(style="bold")
    tbl.add_column()
    tbl.add_row("VMs", str(len(topo.vms)))
    tbl.add_row("disks", str(sum(len(v.disks) for v in topo.vms)))
    tbl.add_row("hosts / clusters", f"{len(topo.hosts)} / {len(topo.clusters)}")
    tbl.add_row("datastores / RAID groups", f"{len(topo.datastores)} / {len(topo.raid_groups)}")
    if extra:
        tbl.add_row("source", as_text(extra))
    if out is not None:
        tbl.add_row("written", as_text(out))
    console.print(tbl)


PROXY_PANEL = "Proxies (infrastructure file)"


@dataclass(frozen=True)
class _ProxyRequest:
    """The proxy options checked as one (before vCenter is read)."""

    selection: ProxySelection
    transport: TransportChoice
    output: Path
    base: Infrastructure | None
    base_file: Path | None


def _proxy_request(
    names: list[str],
    tags: list[str],
    transport: list[str],
    merge: Path | None,
    infra_output: Path | None,
) -> _ProxyRequest | None:
    selection = parse_selection(names, tags)
    if infra_output is None:
        given = [
            opt
            for opt, value in (
                ("--proxy-name", names),
                ("--proxy-tag", tags),
                ("--transport", transport),
                ("--infra-merge", merge),
            )
            if value
        ]
        if given:
            raise InputError(f"{given[0]} needs --infra-output FILE")
        return None
    if not selection.given:
        raise InputError(
            "--infra-output needs --proxy-name GLOB or --proxy-tag TAG (which VMs are proxies)"
        )
    rates = parse_transport(transport)
    base = load_infrastructure(merge) if merge is not None else None
    return _ProxyRequest(
        selection=selection,
        transport=transport_for(rates, base, merge),
        output=infra_output,
        base=base,
        base_file=merge,
    )


def _proxy_table(derived: DerivedInfrastructure) -> None:
    tbl = Table(title="Proxies", title_justify="left")
    for c in ("proxy", "from", "tasks", "modes", "reaches", "VMs reached"):
        tbl.add_column(c, overflow="fold")
    report = derived.report
    for p in derived.infrastructure.proxies:
        reach = (
            "every VM"
            if p.reaches is None
            else ", ".join(f"{k} {v}" for k, v in p.reaches.model_dump(exclude_none=True).items())
        )
        source = "vCenter" if p.name in derived.proxy_vms else "merged file"
        reached = str(len(report.reached[p.name])) if report is not None else ""
        tbl.add_row(
            as_text(p.name), source, str(p.max_tasks), ", ".join(p.modes), as_text(reach), reached
        )
    console.print(tbl)


@inventory_app.command("vcenter")
@vcenter_options(required=True)
def inventory_vcenter(
    vc: VCenterArgs,
    raid_map: Path | None = raid_map_option(),
    output: Path = typer.Option(..., "-o", "--output", help="Topology file to write."),
    proxy_name: list[str] | None = typer.Option(
        None,
        "--proxy-name",
        metavar="GLOB",
        help="VMs whose vCenter name matches this glob are backup proxies (repeatable).",
        rich_help_panel=PROXY_PANEL,
    ),
    proxy_tag: list[str] | None = typer.Option(
        None,
        "--proxy-tag",
        metavar="TAG",
        help="VMs carrying this tag ('category:tag', 'tag' or 'Name=value') are backup proxies"
        " (repeatable).",
        rich_help_panel=PROXY_PANEL,
    ),
    transport: list[str] | None = typer.Option(
        None,
        "--transport",
        metavar="MODE=MB_PER_S",
        help="Measured rate of one job in a transport mode, e.g. hotadd=400 (repeatable;"
        " hotadd and nbd need one, here or in --infra-merge).",
        rich_help_panel=PROXY_PANEL,
    ),
    infra_merge: Path | None = typer.Option(
        None,
        "--infra-merge",
        metavar="FILE",
        help="An infrastructure file to keep repositories, rates and non-VM proxies from.",
        rich_help_panel=PROXY_PANEL,
    ),
    infra_output: Path | None = typer.Option(
        None,
        "--infra-output",
        metavar="FILE",
        help="Infrastructure file to write with the proxy VMs (written with -o, all or none).",
        rich_help_panel=PROXY_PANEL,
    ),
) -> None:
    """Read VMs, hosts, clusters and datastores from a live vCenter in one bulk retrieval.

    With --proxy-name/--proxy-tag and --infra-output, the matching VMs are also written as
    backup proxies (reach: their cluster; task slots: their vCPUs) to an infrastructure file.
    """
    with handle_errors():
        proxies = _proxy_request(
            proxy_name or [], proxy_tag or [], transport or [], infra_merge, infra_output
        )
        outputs = OutputSet()
        # Every target is checked before the retrieval, not after it.
        outputs.check([output] + ([proxies.output] if proxies is not None else []))
        estate = read_estate(None, vc)
        topo = _with_raid_map(estate.topology, raid_map)
        outputs.add_text(output, dump_yaml(topo))
        derived = None
        if proxies is not None:
            derived = derive_infrastructure(
                topo,
                estate.vcpus,
                proxies.selection,
                proxies.transport.transport,
                base=proxies.base,
                base_file=proxies.base_file,
                tags_read=estate.vsphere_tags_read,
            )
            _warn(derived.warnings)
            outputs.add_text(
                proxies.output,
                render_infrastructure(
                    derived,
                    vcenter=estate.source,
                    transport=proxies.transport,
                    base_file=proxies.base_file,
                ),
            )
        outputs.commit()
        _summary(topo, output, estate.detail)
        if derived is not None and proxies is not None:
            _proxy_table(derived)
            console.print(f"written: {as_text(proxies.output)}", highlight=False)
            given = ", ".join(proxies.transport.given)
            if given:
                _warn(
                    [
                        f"transport rates of {given} are what --transport said: stagger did not"
                        " measure them, and every planned duration follows from them"
                    ]
                )


@inventory_app.command("rvtools")
def inventory_rvtools(
    path: Path = typer.Argument(..., help="RVTools .xlsx, or a folder of its CSV exports."),
    raid_map: Path | None = raid_map_option(),
    strict: bool = typer.Option(False, "--strict", help="Fail when a VM's datastore is unknown."),
    output: Path = typer.Option(..., "-o", "--output", help="Topology file to write."),
) -> None:
    """Read an RVTools export (4.x or 3.x headers)."""
    with handle_errors():
        from stagger.sources.rvtools import load_rvtools

        check_target(output)
        inv = load_rvtools(path, strict=strict)
        _warn(inv.warnings)
        topo = _with_raid_map(inv.topology, raid_map)
        write_text_atomic(output, dump_yaml(topo))
        _summary(topo, output, f"{path}: {inv.templates_skipped} templates skipped")


def _render_report(report: AuditReport) -> None:
    tbl = Table(
        title=f"Pre-backup audit: {report.vms} VMs, {report.datastores} datastores",
        title_justify="left",
    )
    for c in ("check", "severity", "object", "detail"):
        tbl.add_column(c)
    colour = {"error": "red", "warning": "yellow", "info": "cyan"}
    for f in report.findings:
        tbl.add_row(
            f.check, f"[{colour[f.severity]}]{f.severity}[/]", as_text(f.object), as_text(f.detail)
        )
    if report.findings:
        console.print(tbl)
    counts = Table(title="Summary", title_justify="left")
    counts.add_column("check")
    counts.add_column("findings", justify="right")
    for c, n in report.counts.items():
        counts.add_row(c, str(n))
    console.print(counts)


SMTP_PASSWORD_ENV = "STAGGER_SMTP_PASSWORD"
_DEFAULT_FROM_HINT = "stagger@ this host's FQDN"


@dataclass(frozen=True)
class _MailRequest:
    mail_from: str
    mail_to: list[str]
    subject: str
    smtp: SmtpSettings


def _mail_request(
    mail_to: list[str],
    mail_from: str | None,
    smtp: str | None,
    starttls: bool,
    smtps: bool,
    smtp_user: str | None,
    smtp_ca_file: Path | None,
    smtp_timeout: float,
    subject: str,
) -> _MailRequest | None:
    """The mail options checked as one, or None when no mail is asked for."""
    mail_only = (mail_from, smtp_user, smtp_ca_file)
    if not mail_to and smtp is None:
        if starttls or smtps or any(x is not None for x in mail_only):
            raise InputError("mail options need --mail-to and --smtp")
        return None
    if not mail_to:
        raise InputError("--smtp needs at least one --mail-to")
    if smtp is None:
        raise InputError("--mail-to needs --smtp HOST[:PORT]")
    if starttls and smtps:
        raise InputError("give one of --starttls and --ssl")
    if (starttls or smtps) is False and (smtp_user is not None or smtp_ca_file is not None):
        what = "--smtp-user" if smtp_user is not None else "--smtp-ca-file"
        # A login without TLS would send the password in the clear.
        raise InputError(f"{what} needs --starttls or --ssl")
    if smtp_ca_file is not None and not smtp_ca_file.is_file():
        raise InputError(f"not a file: {str(smtp_ca_file)!a}", field="--smtp-ca-file")
    security: Security = "ssl" if smtps else "starttls" if starttls else "plain"
    host, port = parse_smtp_server(smtp, security)
    recipients = [check_address(a, "--mail-to") for a in mail_to]
    sender = check_address(mail_from or f"stagger@{socket.getfqdn()}", "--mail-from")
    check_subject_prefix(subject)
    password = None
    if smtp_user is not None:
        if not smtp_user or any(ord(c) < 32 or ord(c) == 127 for c in smtp_user):
            raise InputError(f"not a user name: {smtp_user!a}", field="--smtp-user")
        password = _smtp_password(smtp_user, host)
    return _MailRequest(
        mail_from=sender,
        mail_to=recipients,
        subject=subject,
        smtp=SmtpSettings(
            host=host,
            port=port,
            security=security,
            user=smtp_user,
            password=password,
            ca_file=str(smtp_ca_file) if smtp_ca_file is not None else None,
            timeout_s=smtp_timeout,
        ),
    )


def _smtp_password(user: str, host: str) -> str:
    pw = os.environ.get(SMTP_PASSWORD_ENV)
    if pw:
        return pw
    try:
        return str(typer.prompt(f"SMTP password for {user!a} at {host}", hide_input=True))
    except (typer.Abort, EOFError):
        raise InputError(
            f"no SMTP password: set {SMTP_PASSWORD_ENV} or run interactively"
        ) from None


def _send_report(report: AuditReport, report_json: str, mail: _MailRequest) -> None:
    msg = build_message(
        report,
        report_json,
        mail_from=mail.mail_from,
        mail_to=mail.mail_to,
        subject_prefix=mail.subject,
    )
    result = send(msg, mail.smtp)
    where = f"{mail.smtp.host}:{mail.smtp.port}"
    if result.refused:
        refused = "; ".join(f"{a!a}: {r}" for a, r in result.refused.items())
        raise SourceProtocolError(
            f"report sent through {where} to {', '.join(result.accepted)} only; refused: {refused}"
        )
    # Printed only now: the server has accepted the message for every recipient.
    err_console.print(
        f"report sent through {where} to {', '.join(result.accepted)}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@app.command("audit")
@vcenter_options()
def audit_cmd(
    vc: VCenterArgs,
    topology: Path | None = typer.Option(None, "--topology", "-t", help="A topology file."),
    rvtools: Path | None = typer.Option(
        None, "--rvtools", help="An RVTools export (xlsx or CSV folder)."
    ),
    raid_map: Path | None = raid_map_option(),
    snapshot_days: float = typer.Option(
        3, "--snapshot-days", help="Flag snapshots older than this."
    ),
    snapshot_gib: float = typer.Option(
        50, "--snapshot-gib", help="Flag snapshots larger than this."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    fail_on: str | None = typer.Option(
        None,
        "--fail-on",
        help=(
            "Exit 2 on findings of this severity or worse (info, warning, error; 'any' ="
            f" warning), or of these checks (comma list): {', '.join(CHECKS)}"
        ),
    ),
    mail_to: list[str] | None = typer.Option(
        None, "--mail-to", help="E-mail the report to this address (repeatable); needs --smtp."
    ),
    mail_from: str | None = typer.Option(
        None, "--mail-from", help=f"Sender address (default {_DEFAULT_FROM_HINT})."
    ),
    smtp: str | None = typer.Option(
        None,
        "--smtp",
        help="SMTP server HOST[:PORT] (default port 25, 587 with --starttls, 465 with --ssl).",
    ),
    starttls: bool = typer.Option(False, "--starttls", help="Upgrade to TLS with STARTTLS."),
    smtps: bool = typer.Option(False, "--ssl", help="TLS from the first byte (SMTPS)."),
    smtp_user: str | None = typer.Option(
        None,
        "--smtp-user",
        help=f"SMTP login; password from ${SMTP_PASSWORD_ENV} or a prompt (needs TLS).",
    ),
    smtp_ca_file: Path | None = typer.Option(
        None, "--smtp-ca-file", help="CA bundle that signed the SMTP server's certificate."
    ),
    smtp_timeout: float = typer.Option(
        60,
        "--smtp-timeout",
        min=1,
        help="Seconds for the whole delivery (connect to accepted) and each answer.",
    ),
    subject: str = typer.Option(
        DEFAULT_SUBJECT, "--subject", help="Subject prefix; the counts are appended."
    ),
) -> None:
    """The pre-flight checklist: stale/large snapshots, consolidation, VMware Tools, layout."""
    with handle_errors():
        wanted = [c.strip() for c in (fail_on or "").split(",") if c.strip()]
        try:
            parse_fail_on(wanted)
        except ValueError as exc:
            raise InputError(str(exc), field="--fail-on") from None
        sources = [x for x in (topology, rvtools, vc.vcenter) if x is not None]
        if len(sources) != 1:
            raise InputError("give exactly one of --topology, --rvtools, --vcenter")
        # Every mail option is checked (and the password asked for) before the estate is read.
        mail = _mail_request(
            mail_to or [],
            mail_from,
            smtp,
            starttls,
            smtps,
            smtp_user,
            smtp_ca_file,
            smtp_timeout,
            subject,
        )
        estate = read_estate(topology, vc, rvtools=rvtools)
        topo, source, joins = estate.topology, estate.source, estate.joins
        topo = _with_raid_map(topo, raid_map)
        settings = AuditSettings(
            snapshot_age_days=snapshot_days,
            snapshot_size_gib=snapshot_gib,
            check_raid_groups=raid_map is not None or bool(topo.raid_groups),
        )
        report = audit(topo, source=source, settings=settings, joins=joins)
        report_json = report.to_json()
        if as_json:
            typer.echo(report_json, nl=False)
        else:
            _render_report(report)
        if mail is not None:
            _send_report(report, report_json, mail)
        failing = report.failing(wanted) if wanted else []
        if failing:
            if not as_json:
                err_console.print(
                    f"[bold red]audit failed:[/] {len(failing)} findings match --fail-on",
                    highlight=False,
                )
            raise typer.Exit(ExitCode.UNSCHEDULED)
