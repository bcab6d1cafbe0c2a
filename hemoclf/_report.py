"""A small document model written out as Markdown and as HTML.

The report of ``hemoclf reproduce`` is built once as a list of blocks
(headings, paragraphs, lists, tables, preformatted text, figures) and
rendered to either format, so that both always say the same thing.
"""

import html


class Report:
    """Blocks of a report, rendered to Markdown or standalone HTML."""

    def __init__(self, title):
        self.title = title
        self.blocks = []

    def heading(self, text, level=2):
        self.blocks.append(("heading", level, text))

    def paragraph(self, text):
        self.blocks.append(("paragraph", text))

    def bullets(self, items):
        self.blocks.append(("bullets", list(items)))

    def table(self, header, rows):
        self.blocks.append(("table", list(header), [list(r) for r in rows]))

    def code(self, text):
        self.blocks.append(("code", text))

    def figure(self, path, caption):
        self.blocks.append(("figure", str(path), caption))

    def to_markdown(self):
        out = [f"# {self.title}", ""]
        for kind, *args in self.blocks:
            if kind == "heading":
                level, text = args
                out += ["#" * level + " " + text, ""]
            elif kind == "paragraph":
                out += [args[0], ""]
            elif kind == "bullets":
                out += [f"- {item}" for item in args[0]] + [""]
            elif kind == "table":
                header, rows = args
                out.append("| " + " | ".join(map(str, header)) + " |")
                out.append("|" + "|".join("---" for _ in header) + "|")
                out += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
                out.append("")
            elif kind == "code":
                out += ["```", args[0], "```", ""]
            elif kind == "figure":
                path, caption = args
                out += [f"![{caption}]({path})", "", f"*{caption}*", ""]
        return "\n".join(out)

    def to_html(self):
        esc = html.escape
        out = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{esc(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:60em;margin:auto;"
            "padding:1em}table{border-collapse:collapse}td,th{border:1px solid "
            "#999;padding:.2em .6em;text-align:right}pre{background:#f4f4f4;"
            "padding:.6em}img{max-width:100%}</style>",
            "</head><body>",
            f"<h1>{esc(self.title)}</h1>",
        ]
        for kind, *args in self.blocks:
            if kind == "heading":
                level, text = args
                out.append(f"<h{level}>{esc(text)}</h{level}>")
            elif kind == "paragraph":
                out.append(f"<p>{esc(args[0])}</p>")
            elif kind == "bullets":
                out.append("<ul>" + "".join(f"<li>{esc(str(i))}</li>"
                                            for i in args[0]) + "</ul>")
            elif kind == "table":
                header, rows = args
                out.append("<table><tr>" + "".join(f"<th>{esc(str(h))}</th>"
                                                   for h in header) + "</tr>")
                for row in rows:
                    out.append("<tr>" + "".join(f"<td>{esc(str(c))}</td>"
                                                for c in row) + "</tr>")
                out.append("</table>")
            elif kind == "code":
                out.append(f"<pre>{esc(args[0])}</pre>")
            elif kind == "figure":
                path, caption = args
                out.append(
                    f'<figure><img src="{esc(path)}" alt="{esc(caption)}">'
                    f"<figcaption>{esc(caption)}</figcaption></figure>"
                )
        out.append("</body></html>")
        return "\n".join(out)
