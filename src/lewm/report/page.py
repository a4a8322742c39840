"""HTML building blocks of the report: escaping, data URIs, tables, figures and the page shell.

The page is one self-contained file: inline CSS, images and GIFs as base64 data URIs, no external
script, stylesheet or font, so it opens from disk with no network (issue 11). The only script is an
inline check that logs a console error for any image that fails to decode, so a browser test can
tell a broken embed from a working one.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2327;
background:#f4f5f7;line-height:1.45}
header{background:#22303c;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px;font-size:24px}header p{margin:0;color:#c9d3dc}
nav{background:#fff;border-bottom:1px solid #dde1e5;padding:8px 32px;position:sticky;top:0}
nav a{margin-right:14px;color:#2a5d8f;text-decoration:none;font-size:14px}
main{max-width:1180px;margin:0 auto;padding:8px 24px 40px}
section{scroll-margin-top:48px;background:#fff;border:1px solid #dde1e5;border-radius:6px;
margin:18px 0;padding:6px 20px 16px}
h2{font-size:19px;border-bottom:1px solid #eceff1;padding-bottom:6px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:14px}
th,td{border:1px solid #dde1e5;padding:4px 10px;text-align:left}
th{background:#f0f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:8px 14px 8px 0;vertical-align:top}
figure img{max-width:100%;border:1px solid #eceff1}
figcaption{font-size:13px;color:#555;max-width:560px}
img.pix{image-rendering:pixelated}
.hint{background:#fff8e1;border-left:4px solid #f0b429;padding:8px 12px;color:#5f4b00}
.note{color:#555;font-size:14px}
.cols{display:flex;flex-wrap:wrap;gap:24px}
code,pre{background:#f0f3f6;border-radius:3px;font-size:13px}code{padding:1px 4px}
pre{padding:10px;overflow:auto;max-height:420px}
.ok{color:#1a7f37;font-weight:600}.bad{color:#b42318;font-weight:600}
"""

# Turns an image that did not decode (a damaged embed) into a console error a test can see.
CHECK_IMAGES = (
    'window.addEventListener("load",function(){for(var i=0;i<document.images.length;i++){'
    "var im=document.images[i];if(!im.complete||!im.naturalWidth){"
    'console.error("report image did not decode: "+im.alt)}}});'
)


class Raw(str):
    """A string of HTML that :func:`table` and :func:`page` insert without escaping."""


def esc(x) -> str:
    return x if isinstance(x, Raw) else html.escape(str(x), quote=True)


def num(x, digits: int = 4) -> str:
    """A number for a table cell: fixed or scientific by magnitude; '–' when missing."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, int):
        return f"{x:,}"
    if x != 0 and (abs(x) < 10 ** (-digits + 1) or abs(x) >= 1e6):
        return f"{x:.2e}"
    return f"{x:.{digits}f}"


def pct(x, ci=None) -> str:
    """Fraction -> '84.7%' or '84.7% ± 7.6' (interval in points)."""
    if x is None:
        return "–"
    return f"{100 * x:.1f}%" + ("" if ci is None else f" ± {100 * ci:.1f}")


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def file_uri(path: Path) -> str:
    """A file embedded as a data URI; its type comes from the suffix."""
    mime = MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"{path}: cannot embed a {path.suffix!r} file (png, gif, jpg only)")
    return data_uri(path.read_bytes(), mime)


def figure(
    uri: str,
    caption: str,
    alt: str | None = None,
    width: int | None = None,
    pixelated: bool = False,
) -> str:
    w = f' width="{width}"' if width else ""
    box = f' style="width:{width}px"' if width else ""  # caption wraps at the image's width
    cls = ' class="pix"' if pixelated else ""
    return (
        f'<figure{box}><img src="{uri}" alt="{esc(alt or caption)}"{w}{cls}>'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def table(header: list[str], rows: list[list], numeric_from: int | None = 1) -> str:
    """A table; cells from column ``numeric_from`` on are right-aligned (numbers; None: none)."""
    numeric_from = len(header) if numeric_from is None else numeric_from
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{esc(c)}</td>' if j >= numeric_from else f"<td>{esc(c)}</td>"
            for j, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def hint(what: str, command: str) -> str:
    """The note a section shows when the run lacks its data: which command produces it."""
    return f'<p class="hint">No {esc(what)} in this run yet: run <code>{esc(command)}</code>.</p>'


def para(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{esc(text)}</p>'


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """The whole document; sections are (id, heading, inner HTML)."""
    nav = "".join(f'<a href="#{esc(i)}">{esc(h)}</a>' for i, h, _ in sections)
    body = "".join(
        f'<section id="{esc(i)}"><h2>{esc(h)}</h2>{inner}</section>' for i, h, inner in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main>"
        f"<script>{CHECK_IMAGES}</script></body></html>\n"
    )
