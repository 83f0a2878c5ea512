#!/usr/bin/env python3
"""Writes the Grafana dashboards in dashboards/ and the Helm chart's copies of them.

    python3 scripts/dashboards.py          # regenerate both
    python3 scripts/dashboards.py --check  # fail if either differs from this script

The JSON files are what users import; this script is where they are edited, so that every
panel gets the same data source, variables and replica-safe aggregation. Standard library
only.
"""

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DASHBOARDS = REPO / "dashboards"
# Helm reads files inside the chart only: it ships a copy.
CHART_DASHBOARDS = REPO / "helm" / "iadvize-exporter" / "files" / "dashboards"

DS = {"type": "prometheus", "uid": "${datasource}"}

# Filters of the business series and of the exporter's own series.
BIZ = 'job=~"$job", instance=~"$instance", project_id=~"$project_id", channel=~"$channel"'
EXP = 'job=~"$job", instance=~"$instance"'
# Recording rules keep job and project_id, not instance or channel.
REC = 'job=~"$job", project_id=~"$project_id"'

REPLICAS = (
    "Two exporter replicas read the same iAdvize account and count the same "
    "conversations, so each per-instance series is first reduced with "
    "`max without (instance, pod)` (the replicas agree; the larger one wins after a "
    "restart) before summing over projects or channels: a plain `sum` would double."
)
RECORDED = (
    "From the recording rules of prometheus/iadvize.rules.yml (load them, or enable the "
    "chart's PrometheusRule): the very numbers the alerts judge. Replicas are "
    "de-duplicated there; the channel filter does not apply."
)


def dedup(expr):
    """Collapses replicas: the same series from several exporters, counted once."""
    return f"max without (instance, pod) ({expr})"


def rate(metric, selector=BIZ, window="$__rate_interval"):
    return dedup(f"rate({metric}{{{selector}}}[{window}])")


def bucket_rate(metric, bound):
    """The rate of one histogram bucket. Its bound is written "3" in the text format and
    "3.0" in OpenMetrics, which Prometheus 2 keeps apart: match both, and let max merge
    the two spellings as it merges replicas."""
    selector = f'{BIZ}, le=~"{bound}|{bound}\\\\.0"'
    return f"max without (instance, pod, le) (rate({metric}{{{selector}}}[$__rate_interval]))"


# Tags carry project_id and tag, no channel: the channel filter cannot apply to them.
TAGS = 'job=~"$job", instance=~"$instance", project_id=~"$project_id"'

NAMES_NOTE = (
    " Projects are shown by name (iadvize_project_info); one whose name is null, or not "
    "known yet after a restart, by its id."
)


def project_names():
    """One series per project id, holding its name. topk keeps a single one when two
    replicas disagree during a rename, so that the join below never finds two."""
    return (
        'topk by (project_id) (1, iadvize_project_info{job=~"$job", instance=~"$instance", '
        'project_id=~"$project_id", project_name!=""})'
    )


def named(expr):
    """expr (one series per project_id) with a project_name label to put in legends: the
    project's name, or its id when iAdvize sent no name or the exporter has not read it
    yet (names are not in the state file), so that no project drops out of a panel."""
    return (
        f"({expr}) * on (project_id) group_left (project_name) {project_names()}"
        f' or on (project_id) label_replace({expr}, "project_name", "$1", "project_id", "(.*)")'
    )


class Layout:
    """Hands out panel ids and grid positions, row after row."""

    def __init__(self):
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0
        self.panels = []

    def _id(self):
        panel_id = self.next_id
        self.next_id += 1
        return panel_id

    def row(self, title):
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "id": self._id(),
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def _newline(self):
        if self.x > 0:
            self.y += self.row_height
            self.x = 0
            self.row_height = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_height = max(self.row_height, h)
        self.panels.append(panel)


def targets(queries, instant=False, exemplar=False):
    """Panel queries. With exemplar, the first one also asks Prometheus for the exemplars
    of the series it reads (one query is enough: the others read the same buckets)."""
    out = []
    for i, (expr, legend) in enumerate(queries):
        target = {
            "datasource": DS,
            "editorMode": "code",
            "expr": expr,
            "legendFormat": legend,
            "range": not instant,
            "instant": instant,
            "refId": chr(ord("A") + i),
        }
        if exemplar and i == 0:
            target["exemplar"] = True
        out.append(target)
    return out


def steps(*pairs):
    """Threshold steps: a base colour, then (value, colour) pairs."""
    base, *rest = pairs
    out = [{"color": base, "value": None}]
    out += [{"color": colour, "value": value} for value, colour in rest]
    return {"mode": "absolute", "steps": out}


def timeseries(
    title, description, queries, unit="short", stacking="none", minimum=None, maximum=None, exemplar=False
):
    defaults = {
        "unit": unit,
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": stacking, "group": "A"},
        },
        "thresholds": steps("green"),
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets(queries, exemplar=exemplar),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title, description, queries, unit="short", thresholds=None, decimals=None, minimum=None, maximum=None, mappings=None):
    defaults = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": thresholds or steps("blue"),
        "mappings": mappings or [],
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets(queries),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
            "wideLayout": True,
            "showPercentChange": False,
        },
    }


def table(title, description, queries):
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [dict(t, format="table") for t in targets(queries, instant=True)],
        "fieldConfig": {"defaults": {"custom": {"align": "auto"}}, "overrides": []},
        "options": {"showHeader": True, "cellHeight": "sm"},
        "transformations": [
            {
                "id": "organize",
                "options": {"excludeByName": {"Time": True, "Value": True, "__name__": True}},
            }
        ],
    }


def bargauge(title, description, queries, unit="short", decimals=None):
    defaults = {"unit": unit, "color": {"mode": "continuous-BlPu"}, "thresholds": steps("blue"), "min": 0}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets(queries, instant=True),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "auto",
            "sizing": "auto",
            "minVizHeight": 16,
            "maxVizHeight": 300,
        },
    }


def query_variable(name, label, query, multi=True, regex=""):
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "allValue": ".*",
        "current": {},
        "options": [],
        "hide": 0,
        "regex": regex,
    }


# The project variable shows names and filters by id. Grafana writes each series of a
# query_result as `{project_id="1",project_name="Shop"} 1 1700000000000`, labels in the
# order Prometheus sends them (sorted by name), nothing escaped: the name runs to the last
# `"}`, so a quote in it survives. A project without a name (null, or not read since a
# restart) has no project_name there and Grafana shows its id, as it does for an empty
# text group.
PROJECT_OPTIONS = (
    'query_result(group by (project_id, project_name) (iadvize_project_info{job=~"$job"}) '
    'or on (project_id) group by (project_id) '
    '({__name__=~"iadvize_conversations_closed_total|iadvize_window_conversations", job=~"$job"}))'
)
PROJECT_REGEX = '/^\\{project_id="(?<value>[^"]*)"(,project_name="(?<text>.*)")?\\} /'


def variables(business):
    out = [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "current": {},
            "options": [],
            "hide": 0,
            "refresh": 1,
            "regex": "",
        },
        query_variable("job", "Job", "label_values(iadvize_exporter_build_info, job)"),
        query_variable("instance", "Instance", 'label_values(iadvize_exporter_build_info{job=~"$job"}, instance)'),
    ]
    if business:
        # Projects named by iadvize_project_info, and the others by id: the counters
        # appear with a project's first conversation since the start, the window gauges
        # at once.
        out.append(query_variable("project_id", "Project", PROJECT_OPTIONS, regex=PROJECT_REGEX))
        out.append(
            query_variable(
                "channel",
                "Channel",
                'label_values({__name__=~"iadvize_conversations_closed_total|iadvize_window_conversations", '
                'job=~"$job", project_id=~"$project_id"}, channel)',
            )
        )
    if business:
        # The exemplars' link to a conversation: the data source's exemplar link is
        # `${conversation_url}${__value.raw}` (README, "Grafana dashboards"); the console's
        # address is the user's to set.
        out.append(
            {
                "type": "textbox",
                "name": "conversation_url",
                "label": "Conversation link prefix",
                "description": "Prefix of the link from an exemplar to its conversation, "
                "followed by the conversation's id (e.g. your iAdvize console's conversation "
                "address). Empty: the link is the bare id.",
                "query": "",
                "current": {"text": "", "value": ""},
                "options": [],
                "hide": 0,
            }
        )
    return {"list": out}


def dashboard(uid, title, description, panels, business):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["iadvize"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "timezone": "browser",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "links": [
            {
                "title": "iAdvize dashboards",
                "type": "dashboards",
                "tags": ["iadvize"],
                "asDropdown": False,
                "includeVars": True,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": variables(business),
        "panels": panels,
    }


def window_sum(metric, extra=""):
    return f"sum({dedup(metric + '{' + BIZ + extra + '}')})"


def weighted(mean, weight):
    """The mean of several series, each weighted by its count of answers."""
    return f"sum({dedup(f'{mean}{{{BIZ}}} * {weight}{{{BIZ}}}')}) / {window_sum(weight)}"


def overview():
    lay = Layout()

    lay.row("Now: the exporter's rolling window (--metrics.window, 1h by default)")
    window_note = (
        " The window gauges are recomputed after every poll from the conversations closed "
        "within the window, late survey answers and transactions included. " + REPLICAS
    )
    # First line: the headline figures, by iAdvize's definitions; second: the other
    # definitions and the counts behind them.
    lay.add(
        stat(
            "Conversations",
            "Closed conversations in the window." + window_note,
            [(window_sum("iadvize_window_conversations"), "conversations")],
            thresholds=steps("blue"),
            decimals=0,
        ),
        4,
        5,
    )
    lay.add(
        stat(
            "CSAT",
            "iAdvize's CSAT: the share of the window's CSAT answers that are 4 or 5 "
            "(iadvize_window_csat_satisfied over iadvize_window_csat_responses), as iAdvize's "
            "reports compute it. Red below 60% (the alert's default threshold), yellow below "
            "80%." + window_note,
            [
                (
                    f"{window_sum('iadvize_window_csat_satisfied')} / {window_sum('iadvize_window_csat_responses')}",
                    "CSAT",
                )
            ],
            unit="percentunit",
            thresholds=steps("red", (0.6, "yellow"), (0.8, "green")),
            decimals=1,
            minimum=0,
            maximum=1,
        ),
        4,
        5,
    )
    lay.add(
        stat(
            "Conversion rate",
            "iAdvize's conversion rate: the window's transactions over its closed "
            "conversations (iadvize_window_transactions over iadvize_window_conversations), as "
            "iAdvize's Sales activity report computes it; a conversation with two orders counts "
            "twice, so it can pass 100%. Red below 2%, yellow below 5%." + window_note,
            [
                (
                    f"({window_sum('iadvize_window_transactions')} or 0 * {window_sum('iadvize_window_conversations')})"
                    f" / {window_sum('iadvize_window_conversations')}",
                    "conversion rate",
                )
            ],
            unit="percentunit",
            thresholds=steps("red", (0.02, "yellow"), (0.05, "green")),
            decimals=1,
        ),
        4,
        5,
    )
    lay.add(
        stat(
            "NPS",
            "Net Promoter Score in the window: 100 x (promoters - detractors) / answers, "
            "weighted by each channel's answers. Red below 0, yellow below 30." + window_note,
            [
                (weighted("iadvize_window_nps", "iadvize_window_nps_responses"), "NPS")
            ],
            thresholds=steps("red", (0, "yellow"), (30, "green")),
            decimals=0,
            minimum=-100,
            maximum=100,
        ),
        4,
        5,
    )
    lay.add(
        stat(
            "Revenue",
            "Revenue of the window's conversations, per currency." + window_note,
            [
                (
                    f"sum by (currency) ({dedup('iadvize_window_transaction_amount{' + BIZ + '}')})",
                    "{{currency}}",
                )
            ],
            decimals=0,
        ),
        4,
        5,
    )
    lay.add(
        stat(
            "Mean duration",
            "Mean conversation duration over the window, all selected channels together."
            + window_note,
            [
                (
                    f"{window_sum('iadvize_window_conversation_duration_seconds_sum')}"
                    f" / {window_sum('iadvize_window_conversation_duration_seconds_count')}",
                    "mean",
                )
            ],
            unit="s",
            thresholds=steps("green", (1800, "yellow"), (3600, "red")),
        ),
        4,
        5,
    )
    lay.add(
        stat(
            "CSAT average",
            "Mean CSAT answer (1 to 5) in the window, weighted by each channel's answers: "
            "not iAdvize's CSAT (the share of 4 and 5, beside), but what IadvizeCsatDrop's "
            "average rule judges. Red below 3.5 (that rule's default threshold), yellow "
            "below 4." + window_note,
            [
                (weighted("iadvize_window_csat_average", "iadvize_window_csat_responses"), "CSAT average")
            ],
            thresholds=steps("red", (3.5, "yellow"), (4, "green")),
            decimals=2,
            minimum=1,
            maximum=5,
        ),
        3,
        4,
    )
    lay.add(
        stat(
            "CSAT answers",
            "Answered CSAT questions in the window." + window_note,
            [(window_sum("iadvize_window_csat_responses"), "answers")],
            decimals=0,
        ),
        3,
        4,
    )
    lay.add(
        stat(
            "Converted conversations",
            "Share of the window's conversations with at least one transaction "
            "(iadvize_window_conversions over iadvize_window_conversations): at most 100%, "
            "unlike iAdvize's conversion rate beside." + window_note,
            [
                (
                    f"{window_sum('iadvize_window_conversions')} / {window_sum('iadvize_window_conversations')}",
                    "converted",
                )
            ],
            unit="percentunit",
            decimals=1,
            minimum=0,
            maximum=1,
        ),
        3,
        4,
    )
    lay.add(
        stat(
            "NPS answers",
            "Answered NPS questions in the window." + window_note,
            [(window_sum("iadvize_window_nps_responses"), "answers")],
            decimals=0,
        ),
        3,
        4,
    )
    lay.add(
        stat(
            "Duration quantiles, longest channel",
            "Nearest-rank duration quantiles over the window. A quantile cannot be added "
            "across channels: each shows the channel where it is longest. Yellow from 30 "
            "minutes, red from an hour." + window_note,
            [
                (
                    f"max by (quantile) ({dedup('iadvize_window_conversation_duration_seconds{' + BIZ + '}')})",
                    "p{{quantile}}",
                )
            ],
            unit="s",
            thresholds=steps("green", (1800, "yellow"), (3600, "red")),
        ),
        12,
        4,
    )

    exemplar_note = (
        " The dots are exemplars (Prometheus needs --enable-feature=exemplar-storage and an "
        "OpenMetrics scrape): the latest conversation counted into each bucket, at its "
        "value; hover one for its conversation_id and the link to it (the "
        "conversation_url variable, README)."
    )
    lay.row("Conversations")
    lay.add(
        timeseries(
            "Conversations closed per hour, by channel",
            "Hourly rate of closed conversations, by channel. " + REPLICAS,
            [(f"3600 * sum by (channel) ({rate('iadvize_conversations_closed_total')})", "{{channel}}")],
            stacking="normal",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Conversations closed per hour, by project",
            "Hourly rate of closed conversations, by project." + NAMES_NOTE + " " + REPLICAS,
            [
                (
                    named(f"3600 * sum by (project_id) ({rate('iadvize_conversations_closed_total')})"),
                    "{{project_name}}",
                )
            ],
            stacking="normal",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Conversation duration p50 / p90 / p99",
            "Quantiles of iadvize_conversation_duration_seconds, estimated from the histogram "
            "buckets (so only as fine as the buckets, up to 14 days for offsite conversations, "
            "which iAdvize closes after 7 days of inactivity)." + exemplar_note + " " + REPLICAS,
            [
                (
                    f"histogram_quantile({q}, sum by (le) ({rate('iadvize_conversation_duration_seconds_bucket')}))",
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.9, 0.99)
            ],
            unit="s",
            exemplar=True,
        ),
        24,
        8,
    )

    lay.row("Satisfaction")
    csat_sum = f"sum by (project_id) ({rate('iadvize_csat_score_sum')})"
    csat_count = f"sum by (project_id) ({rate('iadvize_csat_score_count')})"
    lay.add(
        timeseries(
            "CSAT (share of answers 4-5), by project",
            "iAdvize's CSAT: the share of CSAT answers that are 4 or 5, everything above the "
            "le=\"3\" bucket, of the answers counted in each interval." + NAMES_NOTE + " " + REPLICAS,
            [
                (
                    named(f"1 - sum by (project_id) ({bucket_rate('iadvize_csat_score_bucket', 3)}) / {csat_count}"),
                    "{{project_name}}",
                )
            ],
            unit="percentunit",
            minimum=0,
            maximum=1,
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "CSAT average and answers, by project",
            "Mean CSAT answer (1 to 5) of the answers counted in each interval, per project, "
            "and the median answer of all selected projects (interpolated within the "
            "buckets, as histogram_quantile does)." + exemplar_note + NAMES_NOTE + " " + REPLICAS,
            [
                (
                    f"histogram_quantile(0.5, sum by (le) ({rate('iadvize_csat_score_bucket')}))",
                    "median answer",
                ),
                (named(f"{csat_sum} / {csat_count}"), "{{project_name}}"),
            ],
            minimum=1,
            maximum=5,
            exemplar=True,
        ),
        12,
        8,
    )
    nps_count = f"sum ({rate('iadvize_nps_score_count')})"
    nps_le8 = f"sum ({bucket_rate('iadvize_nps_score_bucket', 8)})"
    nps_le6 = f"sum ({bucket_rate('iadvize_nps_score_bucket', 6)})"
    lay.add(
        timeseries(
            "NPS",
            "Net Promoter Score of the answers counted in each interval: 100 x (promoters, "
            "answers 9-10, minus detractors, 0-6) / answers, from the histogram buckets. "
            + REPLICAS,
            [(f"100 * ({nps_count} - {nps_le8} - {nps_le6}) / {nps_count}", "NPS")],
            minimum=-100,
            maximum=100,
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "NPS answers: promoters, passives, detractors",
            "Answers per hour: promoters 9-10 (above the le=\"8\" bucket), passives 7-8, "
            "detractors 0-6 (the le=\"6\" bucket), stacked as shares. " + REPLICAS,
            [
                (f"3600 * ({nps_count} - {nps_le8})", "promoters"),
                (f"3600 * ({nps_le8} - {nps_le6})", "passives"),
                (f"3600 * {nps_le6}", "detractors"),
            ],
            stacking="percent",
        ),
        12,
        8,
    )

    lay.row("Conversion and revenue")
    closed = f"sum by (project_id) ({rate('iadvize_conversations_closed_total')})"
    lay.add(
        timeseries(
            "Conversion rate, by project",
            "iAdvize's conversion rate: transactions (the _count of "
            "iadvize_transaction_amount) per closed conversation, which can pass 100%; and the "
            "share of conversations that converted (their first transaction, "
            "iadvize_conversions_total). A transaction can come hours after the close, so "
            "these compare counts, not the same conversations." + NAMES_NOTE + " " + REPLICAS,
            [
                (
                    named(f"sum by (project_id) ({rate('iadvize_transaction_amount_count')}) / {closed}"),
                    "{{project_name}}",
                ),
                (
                    named(f"sum by (project_id) ({rate('iadvize_conversions_total')}) / {closed}"),
                    "{{project_name}}, converted",
                ),
            ],
            unit="percentunit",
            minimum=0,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Revenue per hour, by currency",
            "Hourly rate of transaction amounts (the _sum of iadvize_transaction_amount), per "
            "currency. " + REPLICAS,
            [(f"3600 * sum by (currency) ({rate('iadvize_transaction_amount_sum')})", "{{currency}}")],
        ),
        8,
        8,
    )
    lay.add(
        stat(
            "Revenue over the time range",
            "Transaction amounts counted within the dashboard's time range, per currency. "
            + REPLICAS,
            [
                (
                    f"sum by (currency) ({dedup('increase(iadvize_transaction_amount_sum{' + BIZ + '}[$__range])')})",
                    "{{currency}}",
                )
            ],
            decimals=0,
        ),
        8,
        8,
    )

    lay.row("Tags (with --metrics.tags)")
    tags_note = (
        " Only with --metrics.tags (off by default; with `all`, tags past --metrics.max-tags "
        "are `other`). Tags have no channel label: the channel filter does not apply. "
        + REPLICAS
    )
    lay.add(
        timeseries(
            "Tagged conversations per hour, by tag",
            "Hourly rate of iadvize_conversation_tags_total: closed conversations carrying each "
            "tag, a tag added after the close counted when it appears." + tags_note,
            [
                (
                    f"3600 * sum by (tag) ({rate('iadvize_conversation_tags_total', TAGS)})",
                    "{{tag}}",
                )
            ],
        ),
        14,
        8,
    )
    lay.add(
        bargauge(
            "Share of the window's conversations, by tag",
            "iadvize_window_conversation_tags over iadvize_window_conversations, all selected "
            "projects: a conversation with several tags counts under each." + tags_note,
            [
                (
                    f"sum by (tag) ({dedup('iadvize_window_conversation_tags{' + TAGS + '}')})"
                    f" / scalar(sum({dedup('iadvize_window_conversations{' + TAGS + '}')}))",
                    "{{tag}}",
                )
            ],
            unit="percentunit",
            decimals=1,
        ),
        10,
        8,
    )

    lay.row("What the alerts see (recording rules)")
    lay.add(
        timeseries(
            "CSAT over the last hour, and the alert thresholds",
            "iadvize:csat_satisfied_ratio:1h (iAdvize's CSAT, the share of 4 and 5) and "
            "iadvize:csat_average:1h per project, with their thresholds "
            "(iadvize:threshold:*). IadvizeCsatDrop fires below either with enough answers. "
            + RECORDED + NAMES_NOTE,
            [
                (named(f"iadvize:csat_satisfied_ratio:1h{{{REC}}}"), "CSAT (4-5 share), {{project_name}}"),
                ("iadvize:threshold:csat_satisfied_ratio_min", "CSAT threshold"),
                (named(f"iadvize:csat_average:1h{{{REC}}}"), "average, {{project_name}}"),
                ("iadvize:threshold:csat_average_min", "average threshold"),
            ],
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "CSAT answers over the last hour",
            "iadvize:csat_responses:1h per project, and the fewest answers the CSAT alert "
            "judges. " + RECORDED + NAMES_NOTE,
            [
                (named(f"iadvize:csat_responses:1h{{{REC}}}"), "{{project_name}}"),
                ("iadvize:threshold:csat_min_responses", "minimum to alert"),
            ],
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "NPS over the last hour and day",
            "iadvize:nps:1h and iadvize:nps:1d per project; IadvizeNpsDrop judges the day. "
            + RECORDED + NAMES_NOTE,
            [
                (named(f"iadvize:nps:1h{{{REC}}}"), "1h, {{project_name}}"),
                (named(f"iadvize:nps:1d{{{REC}}}"), "1d, {{project_name}}"),
                ("iadvize:threshold:nps_min", "threshold"),
            ],
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Conversion rate over the last hour and day",
            "iadvize:conversion_rate:1h and :1d per project (iAdvize's conversion rate: "
            "transactions over closed conversations), and iadvize:conversion_ratio:1d (the "
            "share of conversations that converted). " + RECORDED + NAMES_NOTE,
            [
                (named(f"iadvize:conversion_rate:1h{{{REC}}}"), "1h, {{project_name}}"),
                (named(f"iadvize:conversion_rate:1d{{{REC}}}"), "1d, {{project_name}}"),
                (named(f"iadvize:conversion_ratio:1d{{{REC}}}"), "converted 1d, {{project_name}}"),
            ],
            unit="percentunit",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Revenue over the last hour and day",
            "iadvize:revenue:1h and :1d per project and currency. " + RECORDED + NAMES_NOTE,
            [
                (named(f"iadvize:revenue:1h{{{REC}}}"), "1h, {{project_name}} {{currency}}"),
                (named(f"iadvize:revenue:1d{{{REC}}}"), "1d, {{project_name}} {{currency}}"),
            ],
        ),
        8,
        8,
    )

    return dashboard(
        "iadvize-overview",
        "iAdvize / Overview",
        "Conversations, duration, satisfaction (CSAT, NPS), conversion and revenue from "
        "iadvize-exporter. Safe with several exporter replicas.",
        lay.panels,
        business=True,
    )


def exporter():
    lay = Layout()
    per_replica = (
        " Shown per exporter instance: each replica polls iAdvize on its own, so these are "
        "not business figures and are never added across replicas."
    )

    lay.row("Health")
    lay.add(
        stat(
            "Last poll",
            "iadvize_up: 1 when the instance's last poll of iAdvize succeeded." + per_replica,
            [(f"iadvize_up{{{EXP}}}", "{{instance}}")],
            thresholds=steps("red", (1, "green")),
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "failing", "index": 0},
                        "1": {"text": "ok", "index": 1},
                    },
                }
            ],
        ),
        6,
        5,
    )
    lay.add(
        stat(
            "Scrape",
            "Prometheus's up for the exporter's targets: 0 when a scrape fails." + per_replica,
            [(f"up{{{EXP}}}", "{{instance}}")],
            thresholds=steps("red", (1, "green")),
            mappings=[
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "down", "index": 0},
                        "1": {"text": "up", "index": 1},
                    },
                }
            ],
        ),
        6,
        5,
    )
    lay.add(
        stat(
            "Age of the last successful poll",
            "Time since the instance last read iAdvize successfully. Yellow after 5 minutes, "
            "red after 15." + per_replica,
            [(f"time() - iadvize_last_successful_poll_timestamp_seconds{{{EXP}}}", "{{instance}}")],
            unit="s",
            thresholds=steps("green", (300, "yellow"), (900, "red")),
        ),
        6,
        5,
    )
    lay.add(
        stat(
            "Age of the data watermark",
            "How far behind now the close time is up to which every conversation has been "
            "read. Red from 15 minutes, IadvizeDataStale's default threshold." + per_replica,
            [(f"time() - iadvize_data_watermark_timestamp_seconds{{{EXP}}}", "{{instance}}")],
            unit="s",
            thresholds=steps("green", (300, "yellow"), (900, "red")),
        ),
        6,
        5,
    )
    lay.add(
        timeseries(
            "Poll duration",
            "How long each instance's last poll took (iadvize_poll_duration_seconds)."
            + per_replica,
            [(f"iadvize_poll_duration_seconds{{{EXP}}}", "{{instance}}")],
            unit="s",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Polls and failed polls per minute",
            "iadvize_polls_total and iadvize_poll_failures_total." + per_replica,
            [
                (f"60 * rate(iadvize_polls_total{{{EXP}}}[$__rate_interval])", "polls {{instance}}"),
                (f"60 * rate(iadvize_poll_failures_total{{{EXP}}}[$__rate_interval])", "failed {{instance}}"),
            ],
        ),
        12,
        8,
    )

    lay.row("iAdvize API")
    lay.add(
        timeseries(
            "API requests per second, by code",
            "Requests to iAdvize by endpoint and HTTP status (error: no response came)."
            + per_replica,
            [
                (
                    f"sum by (instance, endpoint, code) (rate(iadvize_api_requests_total{{{EXP}}}[$__rate_interval]))",
                    "{{instance}} {{endpoint}} {{code}}",
                )
            ],
            unit="reqps",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "API retries per second, by reason",
            "Retried requests by reason: rate_limited (429), server_error, timeout, "
            "transport, invalid_response." + per_replica,
            [
                (
                    f"sum by (instance, endpoint, reason) (rate(iadvize_api_retries_total{{{EXP}}}[$__rate_interval]))",
                    "{{instance}} {{endpoint}} {{reason}}",
                )
            ],
            unit="reqps",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "API latency p90",
            "90th percentile of the request latency, from iadvize_api_request_duration_seconds."
            + per_replica,
            [
                (
                    "histogram_quantile(0.9, sum by (instance, endpoint, le) "
                    f"(rate(iadvize_api_request_duration_seconds_bucket{{{EXP}}}[$__rate_interval])))",
                    "{{instance}} {{endpoint}}",
                )
            ],
            unit="s",
        ),
        6,
        8,
    )
    lay.add(
        stat(
            "Retry-After: next call in",
            "How long iAdvize's latest Retry-After still holds requests back (capped by "
            "--iadvize.max-retry-after); 0 when none. While it exceeds the poll interval "
            "every poll fails at once as rate limited, so iadvize_up is 0." + per_replica,
            [
                (
                    f"clamp_min(iadvize_api_backoff_until_timestamp_seconds{{{EXP}}} - time(), 0)",
                    "{{instance}}",
                )
            ],
            unit="s",
            thresholds=steps("green", (1, "yellow"), (60, "red")),
        ),
        6,
        8,
    )
    lay.add(
        stat(
            "iAdvize clock skew",
            "iAdvize's clock minus the exporter's, from the Date header of its answers "
            "(to about a second). The exporter reads its intervals and keeps its window "
            "on iAdvize's clock, so counts stay exact; a skew of minutes says the "
            "exporter's host (or iAdvize) needs NTP." + per_replica,
            [(f"iadvize_clock_skew_seconds{{{EXP}}}", "{{instance}}")],
            unit="s",
            thresholds=steps("red", (-60, "yellow"), (-5, "green"), (5, "yellow"), (60, "red")),
        ),
        6,
        8,
    )
    lay.add(
        stat(
            "Token expires in",
            "Time left on the current access token; the exporter logs in again a few "
            "minutes before it runs out. Red under 10 minutes." + per_replica,
            [(f"iadvize_token_expiry_timestamp_seconds{{{EXP}}} - time()", "{{instance}}")],
            unit="s",
            thresholds=steps("red", (600, "yellow"), (3600, "green")),
        ),
        6,
        8,
    )
    lay.add(
        stat(
            "Logins over the time range",
            "iadvize_token_renewals_total: logins made within the dashboard's time range."
            + per_replica,
            [(f"increase(iadvize_token_renewals_total{{{EXP}}}[$__range])", "{{instance}}")],
            decimals=0,
        ),
        6,
        8,
    )

    lay.row("Records")
    lay.add(
        timeseries(
            "Invalid records per minute, by reason",
            "Records or fields rejected (iadvize_invalid_records_total): malformed, "
            "missing_id, missing_project and bad_closed_at skip a record; the others drop a "
            "field or a transaction." + per_replica,
            [
                (
                    f"60 * sum by (instance, reason) (rate(iadvize_invalid_records_total{{{EXP}}}[$__rate_interval]))",
                    "{{instance}} {{reason}}",
                )
            ],
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Tracked conversations",
            "Conversations held for de-duplication and late data (iadvize_tracked_conversations)."
            + per_replica,
            [(f"iadvize_tracked_conversations{{{EXP}}}", "{{instance}}")],
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "State file problems",
            "iadvize_state_file_corrupt_total: a state file found damaged at start-up and moved "
            "aside (counts restarted from zero). iadvize_state_file_write_failures_total: saves "
            "that failed (counting goes on; a restart would re-read from the last saved state)."
            + per_replica,
            [
                (f"iadvize_state_file_corrupt_total{{{EXP}}}", "{{instance}} corrupt"),
                (f"increase(iadvize_state_file_write_failures_total{{{EXP}}}[$__rate_interval])", "{{instance}} write failures"),
            ],
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Conversation records read per second",
            "iadvize_conversations_fetched_total: records read, duplicates (overlap, revisit "
            "pass) included." + per_replica,
            [(f"rate(iadvize_conversations_fetched_total{{{EXP}}}[$__rate_interval])", "{{instance}}")],
        ),
        8,
        8,
    )

    lay.row("Process")
    lay.add(
        timeseries(
            "CPU",
            "CPU seconds per second used by the exporter process." + per_replica,
            [(f"rate(process_cpu_seconds_total{{{EXP}}}[$__rate_interval])", "{{instance}}")],
            unit="percentunit",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Resident memory",
            "process_resident_memory_bytes." + per_replica,
            [(f"process_resident_memory_bytes{{{EXP}}}", "{{instance}}")],
            unit="bytes",
        ),
        8,
        8,
    )
    lay.add(
        table(
            "Build",
            "iadvize_exporter_build_info: version, revision and compiler of each instance.",
            [(f"iadvize_exporter_build_info{{{EXP}}}", "")],
        ),
        8,
        8,
    )

    return dashboard(
        "iadvize-exporter",
        "iAdvize / Exporter",
        "Health of iadvize-exporter: polls, data freshness, requests to iAdvize, token, "
        "rejected records and the process.",
        lay.panels,
        business=False,
    )


def render(board):
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] not in ([], ["--check"]):
        print(__doc__, file=sys.stderr)
        return 2
    stale = []
    for name, board in (("iadvize-overview.json", overview()), ("iadvize-exporter.json", exporter())):
        text = render(board)
        for path in (DASHBOARDS / name, CHART_DASHBOARDS / name):
            if check:
                if not path.exists() or path.read_text(encoding="utf-8") != text:
                    stale.append(str(path.relative_to(REPO)))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if stale:
        print(
            "out of date with scripts/dashboards.py: " + ", ".join(stale) + "\n"
            "run: python3 scripts/dashboards.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
