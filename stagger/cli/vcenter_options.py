"""The vCenter connection options, defined once and shared by every command that reads vCenter.

``@vcenter_options()`` (in the style of sqlite-utils' shared option decorators) adds
``--vcenter HOST``, ``--user``, ``--port``, ``--insecure``, ``--ca-file``, ``--timeout``,
``--max-response-mib`` and ``--no-tags`` to a typer command, and hands the command one
:class:`VCenterArgs` in its ``vc`` parameter. ``--server`` is kept as a hidden alias of
``--vcenter`` (the old name on ``inventory vcenter`` and ``audit``). The password is never an
option: it comes from ``$STAGGER_VSPHERE_PASSWORD`` or a hidden prompt, so it never reaches argv.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from stagger.cli.app import err_console
from stagger.cli.text import as_text
from stagger.errors import InputError

if TYPE_CHECKING:
    from stagger.sources.estate import Estate
    from stagger.sources.vcenter import VCenterOptions

PASSWORD_ENV = "STAGGER_VSPHERE_PASSWORD"
PANEL = "vCenter"
# The library's defaults (stagger.sources.vcenter), repeated here so that --help needs no
# pyvmomi import; tests/cli/test_inventory_cli.py checks that they agree.
DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_RESPONSE_MIB = 1024

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class VCenterArgs:
    """What the user gave on the command line (no password: that is asked for when needed)."""

    vcenter: str | None
    user: str | None
    port: int | None
    insecure: bool
    ca_file: Path | None
    timeout_s: float
    max_response_mib: int
    tags: bool = True
    """Read vSphere tags (False: ``--no-tags``)."""

    @property
    def given(self) -> bool:
        return self.vcenter is not None

    def options(self) -> VCenterOptions | None:
        """Library options, or None without --vcenter. Asks for the password if needed."""
        if self.vcenter is None:
            given = (
                ("--user", self.user),
                ("--ca-file", self.ca_file),
                ("--no-tags", None if self.tags else True),
            )
            for name, value in given:
                if value is not None:
                    raise InputError(f"{name} needs --vcenter HOST")
            return None
        from stagger.sources.vcenter import VCenterOptions, parse_server

        host, port_in_host = parse_server(self.vcenter)
        if self.port is not None and port_in_host is not None and self.port != port_in_host:
            raise InputError(
                f"--port {self.port} and the port in --vcenter ({port_in_host}) differ"
            )
        if not self.user:
            raise InputError("--vcenter needs --user")
        if self.insecure and self.ca_file is not None:
            raise InputError("--insecure and --ca-file exclude each other")
        if not self.timeout_s > 0:
            raise InputError(
                f"must be more than 0 seconds, not {self.timeout_s:g}", field="--timeout"
            )
        if self.max_response_mib < 1:
            raise InputError(
                f"must be at least 1, not {self.max_response_mib}", field="--max-response-mib"
            )
        if self.insecure:
            err_console.print(
                f"[yellow]warning:[/] --insecure: the certificate of {host} is not verified; "
                "anyone on the network path can pose as this vCenter and read the password",
                highlight=False,
                soft_wrap=True,
            )
        return VCenterOptions(
            server=host,
            port=self.port or port_in_host or 443,
            user=self.user,
            password=_password(self.user, host),
            insecure=self.insecure,
            ca_file=str(self.ca_file) if self.ca_file else None,
            timeout_s=self.timeout_s,
            max_response_mib=self.max_response_mib,
            read_tags=self.tags,
        )


def _password(user: str, server: str) -> str:
    pw = os.environ.get(PASSWORD_ENV)
    if pw:
        return pw
    try:
        return str(typer.prompt(f"Password for {user}@{server}", hide_input=True))
    except (typer.Abort, EOFError):
        raise InputError(f"no password: set {PASSWORD_ENV} or run interactively") from None


def _params(required: bool) -> list[inspect.Parameter]:
    """Fresh typer parameters (typer keeps state on them, so never share one between commands)."""
    kw = inspect.Parameter.KEYWORD_ONLY
    what = "Read the estate from this vCenter/ESXi (HOST, HOST:PORT or https://HOST)."
    return [
        inspect.Parameter(
            "vc_vcenter",
            kw,
            annotation=str | None,
            default=typer.Option(
                None,
                "--vcenter",
                metavar="HOST",
                help=what + (" Required." if required else ""),
                rich_help_panel=PANEL,
            ),
        ),
        inspect.Parameter(
            "vc_server_alias",
            kw,
            annotation=str | None,
            default=typer.Option(None, "--server", hidden=True, help="Old name of --vcenter."),
        ),
        inspect.Parameter(
            "vc_user",
            kw,
            annotation=str | None,
            default=typer.Option(
                None,
                "--user",
                help="vCenter user; password from $STAGGER_VSPHERE_PASSWORD or a prompt.",
                rich_help_panel=PANEL,
            ),
        ),
        inspect.Parameter(
            "vc_port",
            kw,
            annotation=int | None,
            default=typer.Option(
                None,
                "--port",
                help="vCenter HTTPS port (default 443, or the port given in --vcenter).",
                rich_help_panel=PANEL,
            ),
        ),
        inspect.Parameter(
            "vc_insecure",
            kw,
            annotation=bool,
            default=typer.Option(
                False,
                "--insecure",
                help="Do not verify the vCenter's TLS certificate (prints a warning).",
                rich_help_panel=PANEL,
            ),
        ),
        inspect.Parameter(
            "vc_ca_file",
            kw,
            annotation=Path | None,
            default=typer.Option(
                None, "--ca-file", help="PEM file of the CA to trust.", rich_help_panel=PANEL
            ),
        ),
        inspect.Parameter(
            "vc_timeout",
            kw,
            annotation=float,
            default=typer.Option(
                DEFAULT_TIMEOUT_S,
                "--timeout",
                help="Seconds for the whole vCenter retrieval (login to logout), not per read.",
                rich_help_panel=PANEL,
            ),
        ),
        inspect.Parameter(
            "vc_max_response_mib",
            kw,
            annotation=int,
            default=typer.Option(
                DEFAULT_MAX_RESPONSE_MIB,
                "--max-response-mib",
                help="Most MiB the vCenter may send in one retrieval.",
                rich_help_panel=PANEL,
            ),
        ),
        inspect.Parameter(
            "vc_no_tags",
            kw,
            annotation=bool,
            default=typer.Option(
                False,
                "--no-tags",
                help=(
                    "Do not read vSphere tags (vSphere Automation REST API); VM tags then hold"
                    " custom attributes only."
                ),
                rich_help_panel=PANEL,
            ),
        ),
    ]


def vcenter_options(*, required: bool = False) -> Callable[[F], F]:
    """Add the shared vCenter options to a typer command that takes ``vc: VCenterArgs``.

    ``required``: the command cannot run without ``--vcenter`` (``inventory vcenter``); a
    missing one is a usage error, like any missing option.
    """

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)
        if "vc" not in sig.parameters:
            raise TypeError(f"{fn.__name__} needs a 'vc: VCenterArgs' parameter")
        own = [p for p in sig.parameters.values() if p.name != "vc"]
        added = _params(required)

        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            vcenter = kwargs.pop("vc_vcenter")
            alias = kwargs.pop("vc_server_alias")
            if vcenter is not None and alias is not None:
                raise typer.BadParameter(
                    "give it once (--server is its old name)", param_hint="--vcenter"
                )
            vcenter = vcenter if vcenter is not None else alias
            if required and vcenter is None:
                raise typer.BadParameter(
                    "is required: the vCenter/ESXi to read", param_hint="--vcenter"
                )
            vc = VCenterArgs(
                vcenter=vcenter,
                user=kwargs.pop("vc_user"),
                port=kwargs.pop("vc_port"),
                insecure=kwargs.pop("vc_insecure"),
                ca_file=kwargs.pop("vc_ca_file"),
                timeout_s=kwargs.pop("vc_timeout"),
                max_response_mib=kwargs.pop("vc_max_response_mib"),
                tags=not kwargs.pop("vc_no_tags"),
            )
            return fn(*args, vc=vc, **kwargs)

        params = own + added
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        if sig.return_annotation is not inspect.Signature.empty:
            command.__annotations__["return"] = sig.return_annotation
        return command  # type: ignore[return-value]

    return decorate


def read_estate(topology: Path | None, vc: VCenterArgs, *, rvtools: Path | None = None) -> Estate:
    """The estate from the file or vCenter the user named; warnings printed, spinner shown."""
    from stagger.cli.app import console
    from stagger.sources.estate import open_estate

    opts = vc.options()
    if opts is None and topology is None and rvtools is None:
        raise InputError("give a topology file or --vcenter HOST")
    if opts is None:
        estate = open_estate(topology=topology, rvtools=rvtools)
    else:
        if topology is not None or rvtools is not None:
            raise InputError("give a topology file or --vcenter HOST, not both")
        with console.status(f"reading the estate from {opts.server}..."):
            estate = open_estate(vcenter=opts)
    print_warnings(estate.warnings)
    return estate


def print_warnings(warnings: list[str]) -> None:
    """Each warning on stderr as text: names in it (`[/x]`, `[bold]`) are not Rich markup."""
    for w in warnings:
        err_console.print(f"[yellow]warning:[/] {as_text(w)}", highlight=False, soft_wrap=True)
