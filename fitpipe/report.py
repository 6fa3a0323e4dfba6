"""`fitpipe report`: one self-contained HTML file with charts of the named queries' answers and the tables beneath.

plotly's JavaScript is embedded once in the file, so the report opens offline, from a laptop or an e-mail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
from pathlib import Path
from typing import Final

from core.names import GLUE_DATABASE, GLUE_TABLE
from fitpipe.catalog import add_lake_arguments, default_catalog
from fitpipe.errors import UserError
from fitpipe.query import SQL_DIR, QueryResult, named_queries, run_named_queries

#: Rows of each table shown beneath the charts; the whole result is one `fitpipe query --csv` away.
MAX_TABLE_ROWS: Final = 200
#: Heart-rate axes start here, and say so: a resting heart rate, so that a few bpm do not fill a chart's height.
HEART_RATE_BASELINE: Final = 40
INTENSITY_NAMES: Final = {1: "light", 2: "fairly active", 3: "very active"}
SLEEP_STAGE_NAMES: Final = {1.0: "asleep", 2.0: "restless", 3.0: "awake"}
_COLORS: Final = {
    "light": "#9ecae1",
    "fairly active": "#4292c6",
    "very active": "#08519c",
    "asleep": "#6a51a3",
    "restless": "#9e9ac8",
    "awake": "#fdae6b",
}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1280px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
p.meta, p.note { color: #666; font-size: .9rem; }
table.result { border-collapse: collapse; font-size: .8rem; margin: .5rem 0 1rem; }
table.result th, table.result td { border: 1px solid #ddd; padding: .2rem .5rem; text-align: right; }
table.result th { background: #f4f4f4; position: sticky; top: 0; }
div.scroll { max-height: 420px; overflow: auto; }
pre.sql { background: #f8f8f8; padding: .6rem; font-size: .75rem; overflow-x: auto; }
details { margin: .4rem 0; }
"""


def _require_columns(result: QueryResult, name: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in result.columns]
    if missing:
        raise UserError(f"query {name} no longer returns {', '.join(missing)}: the report's charts need them")


def _per_day(fig):
    """One bar per day, labelled by its date (not a time axis that would stretch between the days)."""
    return fig.update_xaxes(type="category")


def _heart_rate_axis(values) -> dict:
    """A heart-rate axis from a stated baseline (HEART_RATE_BASELINE bpm), never zoomed onto the data's spread."""
    top = max([float(v) for v in values if v == v] + [HEART_RATE_BASELINE + 60])  # NaN != NaN: skip no-data days
    return {"range": [HEART_RATE_BASELINE, top * 1.05], "title_text": f"heart rate (bpm, from {HEART_RATE_BASELINE})"}


def _daily_figure(results: dict[str, QueryResult]):
    """Sedentary minutes per day on one panel, heart rate on its own beneath: the mean over the users that day."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    daily = results["04_daily_activity"]
    _require_columns(daily, "04_daily_activity", ["date", "sedentary_minutes", "avg_heartrate"])
    df = (
        daily.to_pandas()
        .groupby("date", as_index=False)
        .agg(sedentary=("sedentary_minutes", "mean"), heartrate=("avg_heartrate", "mean"), users=("id", "nunique"))
    )
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.55, 0.45], vertical_spacing=0.1)
    fig.add_trace(
        go.Bar(
            x=df["date"],
            y=df["sedentary"],
            name="sedentary minutes (outside sleep)",
            marker_color="#bdbdbd",
            customdata=df["users"],
            hovertemplate="%{x}: %{y:.0f} min, %{customdata} users<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=df["date"],
            y=df["heartrate"],
            name="mean heart rate",
            mode="lines+markers",
            line={"color": "#cb181d"},
            connectgaps=True,
            hovertemplate="%{x}: %{y:.1f} bpm<extra></extra>",
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="sedentary (min per user)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(**_heart_rate_axis(df["heartrate"]), row=2, col=1)
    fig.update_xaxes(title_text="date", row=2, col=1)
    fig.update_layout(title="Sedentary minutes and heart rate per day (mean over users)", height=560)
    return _per_day(fig)


def _stacked_per_day(df, category: str, minutes: str, names: dict, per_day, **layout):
    """One bar a day, stacked by category: the minutes of each category (`names`: value -> label) in `df` that day,
    divided by `per_day` (the day's count of users)."""
    import plotly.graph_objects as go

    table = df.pivot_table(index="date", columns=category, values=minutes, aggfunc="sum", fill_value=0)
    fig = go.Figure()
    for value, name in names.items():
        if value in table.columns:
            per_user = table[value] / per_day.reindex(table.index)
            fig.add_trace(go.Bar(x=table.index, y=per_user, name=name, marker_color=_COLORS[name]))
    fig.update_layout(barmode="stack", **layout)
    return _per_day(fig)


def _intensity_figure(results: dict[str, QueryResult]):
    """Minutes at each active intensity per day, stacked: the mean over the users recorded that day."""
    result = results["02_intensity_distribution"]
    _require_columns(result, "02_intensity_distribution", ["id", "date", "intensity", "total_minutes"])
    users = results["04_daily_activity"].to_pandas().groupby("date")["id"].nunique()
    return _stacked_per_day(
        result.to_pandas(),
        "intensity",
        "total_minutes",
        INTENSITY_NAMES,
        users,
        title="Intensity distribution per day (active minutes per user)",
        yaxis_title="active minutes per user (min)",
        xaxis_title="date",
    )


def _sleep_figure(results: dict[str, QueryResult]):
    """Minutes in each sleep stage per night (a night is the date its sleep log ends), mean over sleepers."""
    result = results["08_sleep_stages_per_night"]
    _require_columns(result, "08_sleep_stages_per_night", ["id", "date", "sleep_value", "minutes"])
    df = result.to_pandas()
    return _stacked_per_day(
        df,
        "sleep_value",
        "minutes",
        SLEEP_STAGE_NAMES,
        df.groupby("date")["id"].nunique(),
        title="Sleep stages per night (minutes per sleeping user)",
        yaxis_title="minutes per sleeping user (min)",
        xaxis_title="night (the date the sleep log ends)",
    )


def _heart_rate_figure(results: dict[str, QueryResult]):
    """Mean heart rate at each intensity, one line per user with a heart-rate sensor."""
    import plotly.graph_objects as go

    result = results["05_heart_rate_by_intensity"]
    _require_columns(result, "05_heart_rate_by_intensity", ["id", "intensity", "avg_heartrate"])
    fig = go.Figure()
    df = result.to_pandas()
    for user, rows in df.groupby("id"):
        fig.add_trace(go.Scatter(x=rows["intensity"], y=rows["avg_heartrate"], mode="lines+markers", name=str(user)))
    fig.update_yaxes(**_heart_rate_axis(df["avg_heartrate"]))
    fig.update_layout(
        title="Heart rate by intensity (one line per user)",
        xaxis={
            "title": "intensity (Fitbit's level)",
            "tickvals": [0, 1, 2, 3],
            "ticktext": ["sedentary", "light", "fairly active", "very active"],
        },
    )
    return fig


def _empty_figure(title: str, why: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_annotation(text=why, showarrow=False, font={"size": 16})
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False})
    return fig


def figures(results: dict[str, QueryResult]) -> list[tuple[str, object]]:
    charts = [
        ("Sedentary minutes and heart rate per day", "04_daily_activity", _daily_figure),
        ("Intensity distribution per day", "02_intensity_distribution", _intensity_figure),
        ("Sleep stages per night", "08_sleep_stages_per_night", _sleep_figure),
        ("Heart rate by intensity", "05_heart_rate_by_intensity", _heart_rate_figure),
    ]
    drawn = []
    for title, source, build in charts:
        if source not in results or "04_daily_activity" not in results:
            raise UserError(f"the report needs the named query {source} in sql/")
        if not results[source].rows:
            drawn.append((title, _empty_figure(title, f"no rows: {source} returned nothing for this lake")))
        else:
            drawn.append((title, build(results)))
    return drawn


def _cell(value: object) -> str:
    if value is None:
        return "<td>NULL</td>"
    if isinstance(value, float):
        return f"<td>{value:g}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def _table_html(result: QueryResult) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in result.columns)
    body = "\n".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in result.rows[:MAX_TABLE_ROWS])
    shown = min(len(result.rows), MAX_TABLE_ROWS)
    note = f"{len(result.rows)} row(s)" + (f", the first {shown} shown" if shown < len(result.rows) else "")
    return (
        f'<p class="note">{note}</p><div class="scroll"><table class="result"><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def render(results: dict[str, QueryResult], sql_dir: Path = SQL_DIR, subtitle: str = "") -> str:
    """The report as one HTML document: charts first, then each named query with its SQL and its result table."""
    import plotly.io as pio

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Fitness pipeline report</title>',
        f"<style>{_CSS}</style></head><body>",
        "<h1>Fitness pipeline report</h1>",
        f'<p class="meta">Table {GLUE_DATABASE}.{GLUE_TABLE}, queried with DuckDB in the Athena dialect; '
        f"generated {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}. {html.escape(subtitle)}</p>",
        "<h2>Charts</h2>",
    ]
    for index, (title, figure) in enumerate(figures(results)):
        figure.update_layout(height=figure.layout.height or 430, margin={"t": 60, "b": 50}, template="plotly_white")
        div = pio.to_html(
            figure,
            full_html=False,
            include_plotlyjs=index == 0,
            div_id=f"chart-{index}",
            config={"displaylogo": False, "responsive": True},
        )
        parts.append(f'<section class="chart" aria-label="{html.escape(title)}">{div}</section>')
    parts.append("<h2>Named queries</h2>")
    for query in named_queries(sql_dir):
        result = results.get(query.name)
        if result is None:
            continue
        parts.append(f'<h3 id="{query.name}">{html.escape(query.name)}</h3>')
        parts.append(f"<p>{html.escape(query.description)}</p>")
        parts.append(f'<details><summary>SQL</summary><pre class="sql">{html.escape(query.sql)}</pre></details>')
        parts.append(_table_html(result))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(results: dict[str, QueryResult], path: Path, subtitle: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results, subtitle=subtitle), encoding="utf-8")
    return path


def _run(args: argparse.Namespace) -> int:
    catalog = args.catalog or default_catalog(args.lake)
    results = run_named_queries(catalog)
    path = write_report(results, args.out, subtitle=f"Lake: {args.lake}.")
    print(path)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="write an HTML report with charts of every named query")
    add_lake_arguments(parser)
    parser.add_argument(
        "--out", type=Path, default=Path("out/report.html"), help="the HTML file (default: out/report.html)"
    )
    parser.set_defaults(func=_run)
