"""MkDocs hook: the command-line reference, generated from the typer app at build time.

``docs/cli.md`` holds the marker ``<!-- cli-reference -->``; this hook replaces
it with every command's ``--help`` text, as the command line prints it, so that
the reference cannot drift from the code.
"""

from __future__ import annotations

MARKER = "<!-- cli-reference -->"


def _commands(group, ctx, prefix):  # noqa: ANN001, ANN202
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield f"{prefix} {name}", cmd, ctx
        if hasattr(cmd, "list_commands"):
            import typer

            sub_ctx = typer.Context(cmd, info_name=name, parent=ctx)
            yield from _commands(cmd, sub_ctx, f"{prefix} {name}")


def cli_reference() -> str:
    """Markdown: one section per command with its help text."""
    import typer

    from nonrecours.cli.main import app

    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name="nonrecours", terminal_width=100, max_content_width=100)
    parts = ["## nonrecours", "", "```text", root.get_help(ctx).rstrip(), "```", ""]
    for path, cmd, parent in _commands(root, ctx, "nonrecours"):
        sub = typer.Context(cmd, info_name=path.split()[-1], parent=parent, terminal_width=100,
                            max_content_width=100)
        parts += [f"## {path}", "", "```text", cmd.get_help(sub).rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown, page, config, files):  # noqa: ANN001, ANN201, ARG001
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
