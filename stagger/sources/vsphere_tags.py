"""Read the vSphere tags attached to VMs through the vSphere Automation REST API.

vSphere tags are not in the SOAP API that :mod:`stagger.sources.vcenter` reads: they live in the
vAPI endpoint (``/rest/com/vmware/cis``). One read is a fixed number of calls, none per VM:

1. ``POST /rest/com/vmware/cis/session`` with basic auth: a session id.
2. ``GET .../tagging/tag``: every tag id.
3. ``POST .../tagging/tag-association?~action=list-attached-objects-on-tags`` with the tag ids
   (:data:`TAGS_PER_CALL` at a time): every tag's objects, in bulk.
4. ``GET .../tagging/tag/id:ID`` for each tag attached to a VM, then
   ``GET .../tagging/category/id:ID`` for each of their categories (the /rest API has no bulk
   read of names; an estate has tens or hundreds of tags, not thousands).
5. ``DELETE .../session`` (best effort).

A VM's tags become ``category:tag`` and plain ``tag`` (:func:`tag_strings`).

What the caller supplies is the transport: host, port, an ``ssl.SSLContext`` (the SOAP load's
TLS settings and bounded socket class, so the same deadline and byte cap apply) and a function
giving the seconds left. This module raises:

* :class:`TagsUnavailable` when the tagging endpoint cannot be used but the estate can (no
  endpoint: HTTP 404 on a standalone ESXi; login refused or no permission: 401/403; an answer
  that is not the JSON the API defines; the connection dropped). The caller warns and goes on
  without vSphere tags: all of them or none are applied, never part.
* :class:`~stagger.errors.InputError` when a tag or category name holds a control character
  (one line naming the tag; the name shown escaped), like every other name from vCenter.
* ``TimeoutError`` (and whatever the byte cap raises) unchanged: the caller's deadline and cap
  are the whole load's, so it reports them as it reports the SOAP load's.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import ssl
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from stagger.errors import InputError
from stagger.model.text import no_control_chars

REST = "/rest/com/vmware/cis"
SESSION_HEADER = "vmware-api-session-id"
TAGS_PER_CALL = 500
"""Tag ids per bulk association call (a request body of about 40 KiB)."""
_MAX_ID_CHARS = 1024
# A session id goes back into a request header: visible ASCII only (no CR/LF, no space).
_SESSION_ID = re.compile(r"[\x21-\x7e]{1,4096}")


class TagsUnavailable(Exception):
    """The tagging endpoint could not be used; the message says why, as one escaped line."""


@dataclass
class TagRead:
    """The tags of every tagged VM, and what the read found and left out."""

    vm_tags: dict[str, list[str]]
    """VM MoRef id (``vm-42``) -> sorted ``category:tag`` and ``tag`` strings."""
    tags: int = 0
    """Tags attached to at least one VM."""
    categories: int = 0
    other_objects: Counter[str] = field(default_factory=Counter)
    """Associations with objects other than VMs (by type): not mapped, counted for a warning."""
    requests: int = 0


def tag_strings(category: str, tag: str) -> tuple[str, str]:
    """What one vSphere tag adds to a VM's ``tags``: ``category:tag`` and the plain ``tag``."""
    return f"{category}:{tag}", tag


def _shown(text: str, limit: int = 200) -> str:
    """Server text as one escaped line (servers choose what it holds)."""
    s = repr(text)[1:-1]
    return s[:limit] + ("..." if len(s) > limit else "")


# --- answers: JSON shapes the API defines, anything else is TagsUnavailable ---------------------


def decode(status: int, body: bytes, what: str) -> Any:
    """The ``value`` of a 200 answer, or TagsUnavailable saying what the server answered."""
    if status != 200:
        detail = _error_detail(body)
        if status == 404:
            raise TagsUnavailable(
                f"{what}: HTTP 404, no vSphere Automation (tagging) endpoint on this server"
                " (a standalone ESXi host has none)"
            )
        if status in (401, 403):
            why = "login refused" if status == 401 else "permission denied"
            raise TagsUnavailable(f"{what}: HTTP {status}, {why}{detail}")
        raise TagsUnavailable(f"{what}: HTTP {status}{detail}")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TagsUnavailable(
            f"{what}: the answer is not JSON (starts {_shown(body[:40].decode('latin-1'))!r})"
        ) from None
    if not isinstance(doc, dict) or "value" not in doc:
        raise TagsUnavailable(f"{what}: the answer has no 'value' (not the vSphere REST API)")
    return doc["value"]


def _error_detail(body: bytes) -> str:
    """`` (unauthenticated: Authentication required.)`` from a vAPI error body, if it is one."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ""
    if not isinstance(doc, dict):
        return ""
    kind = doc.get("type")
    value = doc.get("value")
    messages = value.get("messages") if isinstance(value, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    message = first.get("default_message") if isinstance(first, dict) else None
    parts = [str(kind).rsplit(".", 1)[-1] if isinstance(kind, str) else ""]
    if isinstance(message, str):
        parts.append(message)
    text = ": ".join(p for p in parts if p)
    return f" ({_shown(text)})" if text else ""


def session_id(value: Any) -> str:
    if not isinstance(value, str) or not _SESSION_ID.fullmatch(value):
        raise TagsUnavailable("login: the session id is not a short ASCII string")
    return value


def _object_id(value: Any, what: str) -> str:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > _MAX_ID_CHARS
        or not value.isprintable()
    ):
        raise TagsUnavailable(f"{what}: an id is not a short printable string")
    return value


def id_list(value: Any, what: str) -> list[str]:
    """A list of ids, without repeats, in the server's order."""
    if not isinstance(value, list):
        raise TagsUnavailable(f"{what}: expected a list of ids")
    return list(dict.fromkeys(_object_id(v, what) for v in value))


def associations(value: Any, asked: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """``list-attached-objects-on-tags`` -> tag id -> [(object type, MoRef id)] for each tag asked.

    A tag asked about and not answered is taken as on nothing (the API does not promise an
    entry for every tag asked, e.g. one the user may not read); an entry for a tag not asked
    about is ignored.
    """
    what = "tag associations"
    if not isinstance(value, list):
        raise TagsUnavailable(f"{what}: expected a list")
    out: dict[str, list[tuple[str, str]]] = {}
    for entry in value:
        if not isinstance(entry, dict):
            raise TagsUnavailable(f"{what}: an entry is not an object")
        tag = _object_id(entry.get("tag_id"), what)
        objs = entry.get("object_ids")
        if objs is None:  # a tag on nothing (vcsim answers null, vCenter [])
            objs = []
        if not isinstance(objs, list):
            raise TagsUnavailable(f"{what}: object_ids of a tag is not a list")
        refs = out.setdefault(tag, [])
        for o in objs:
            if not isinstance(o, dict):
                raise TagsUnavailable(f"{what}: an object id is not an object")
            refs.append((_object_id(o.get("type"), what), _object_id(o.get("id"), what)))
    return {t: out.get(t, []) for t in asked}


def named(value: Any, what: str, key: str | None = None) -> tuple[str, str | None]:
    """A tag or category: (name, the id in ``key`` if asked, e.g. the tag's ``category_id``)."""
    if not isinstance(value, dict):
        raise TagsUnavailable(f"{what}: expected an object")
    name = value.get("name")
    if not isinstance(name, str) or not name:
        raise TagsUnavailable(f"{what}: no name")
    ref = _object_id(value.get(key), f"{what} {key}") if key else None
    return name, ref


def refuse_control_chars(name: str, kind: str, ref: str, vcenter: str) -> None:
    """One InputError line for a tag or category name holding a control character."""
    try:
        no_control_chars(name)
    except ValueError as exc:
        raise InputError(
            f"{exc}: rename it in vCenter (or pass --no-tags); nothing was written",
            file=f"vCenter {vcenter}",
            obj=f"{kind} {_shown(ref, 120)} '{_shown(name)}'",
            field="name",
        ) from None


# --- transport ----------------------------------------------------------------------------------


class _Rest:
    """One keep-alive HTTPS connection to the vAPI endpoint, every wait bounded by the deadline."""

    def __init__(
        self, host: str, port: int, context: ssl.SSLContext, seconds_left: Callable[[], float]
    ) -> None:
        self.conn = http.client.HTTPSConnection(host, port, context=context, timeout=seconds_left())
        self.seconds_left = seconds_left
        self.session: str | None = None
        self.requests = 0

    def call(
        self,
        method: str,
        path: str,
        what: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        head = {"Accept": "application/json", **(headers or {})}
        if self.session is not None:
            head[SESSION_HEADER] = self.session
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            head["Content-Type"] = "application/json"
        self.requests += 1
        try:
            # The connect waits at most what is left of the load (reads are bounded by the
            # context's socket class).
            self.conn.timeout = self.seconds_left()
            self.conn.request(method, REST + path, body=data, headers=head)
            resp = self.conn.getresponse()
            payload = resp.read()
        except TimeoutError:
            raise  # the load's deadline: the caller reports it like the SOAP load's
        except (http.client.HTTPException, OSError) as exc:
            # Connection refused or dropped, a TLS failure: the tagging endpoint failed, the
            # estate read over SOAP is still good.
            self.conn.close()
            raise TagsUnavailable(f"{what}: {type(exc).__name__}: {_shown(str(exc))}") from None
        return decode(resp.status, payload, what)

    def close(self) -> None:
        self.conn.close()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def read_vm_tags(
    host: str,
    port: int,
    user: str,
    password: str,
    context: ssl.SSLContext,
    seconds_left: Callable[[], float],
    *,
    vcenter: str,
) -> TagRead:
    """Every VM's vSphere tags, read in a fixed number of calls (see the module docstring).

    ``vcenter`` names the server in error lines. Raises TagsUnavailable, InputError, or the
    transport's deadline / byte-cap errors; returns only when everything was read.
    """
    rest = _Rest(host, port, context, seconds_left)
    try:
        rest.session = session_id(
            rest.call(
                "POST",
                "/session",
                "login",
                headers={
                    "Authorization": _basic(user, password),
                    "vmware-use-header-authn": "true",
                },
            )
        )
        try:
            read = _read(rest, vcenter)
        finally:
            with contextlib.suppress(Exception):  # logging out is best effort
                rest.call("DELETE", "/session", "logout")
        read.requests = rest.requests
        return read
    finally:
        rest.close()


def _read(rest: _Rest, vcenter: str) -> TagRead:
    tag_ids = id_list(rest.call("GET", "/tagging/tag", "tag list"), "tag list")
    attached: dict[str, list[tuple[str, str]]] = {}
    for i in range(0, len(tag_ids), TAGS_PER_CALL):
        chunk = tag_ids[i : i + TAGS_PER_CALL]
        value = rest.call(
            "POST",
            "/tagging/tag-association?~action=list-attached-objects-on-tags",
            "tag associations",
            body={"tag_ids": chunk},
        )
        attached.update(associations(value, chunk))
    out = TagRead(vm_tags={})
    on_vms: dict[str, list[str]] = {}  # tag id -> VM MoRef ids
    for tag in tag_ids:
        for kind, ref in attached.get(tag, []):
            if kind == "VirtualMachine":
                on_vms.setdefault(tag, []).append(ref)
            else:
                out.other_objects[kind] += 1
    names: dict[str, tuple[str, str]] = {}  # tag id -> (name, category id)
    for tag in on_vms:
        name, category = named(
            rest.call("GET", f"/tagging/tag/id:{quote(tag, safe=':')}", "tag"),
            "tag",
            "category_id",
        )
        assert category is not None
        refuse_control_chars(name, "tag", tag, vcenter)
        names[tag] = (name, category)
    categories: dict[str, str] = {}
    for category in dict.fromkeys(c for _, c in names.values()):
        cname, _ = named(
            rest.call("GET", f"/tagging/category/id:{quote(category, safe=':')}", "category"),
            "category",
        )
        refuse_control_chars(cname, "category", category, vcenter)
        categories[category] = cname
    per_vm: dict[str, set[str]] = {}
    for tag, vms in on_vms.items():
        name, category = names[tag]
        strings = tag_strings(categories[category], name)
        for vm in vms:
            per_vm.setdefault(vm, set()).update(strings)
    out.vm_tags = {vm: sorted(s) for vm, s in sorted(per_vm.items())}
    out.tags = len(on_vms)
    out.categories = len(categories)
    return out
