"""Axes-level plots for the churn report: ``plot_<thing>(data, *, options..., ax=None) -> Axes``.

How far the probabilities can be trusted (calibration), how many of the customers with the
outcome a campaign reaches (cumulative gain), what drives the predictions and how customers
spread over the risk tiers. Same rules as :mod:`analysis.plotting`; text comes from
``labels.yaml`` group ``churn_plots``. Every chart shows aggregates only: no customer identifier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from analysis.labels import Labels
from analysis.plotting import COLOR, MUTED, format_money, new_axes
from analysis.probability_metrics import cumulative_gain

__all__ = [
    "plot_calibration",
    "plot_cumulative_gain",
    "plot_drivers",
    "plot_risk_tiers",
]

#: One colour per model, in the order the models are given (then repeated).
_MODEL_COLORS = (COLOR, "#d9822b", "#2e8b57", "#8e5ea2", "#6b4423")
_RAISES = "#c0392b"  # higher values go with a higher probability
_REFERENCE = "grey"  # diagonals: perfectly calibrated, random order
_PERCENT = FuncFormatter(lambda v, _p: f"{v:.0%}")
_GAIN_POINTS = 1000  # at most this many points per gain line: the curve looks the same


def _text(labels: Labels, key: str, **fields) -> str:
    return labels("churn_plots", key, **fields)


def _specific(labels: Labels, key: str, variant: str) -> str:
    """``key_<variant>`` (e.g. ``observed_churned``) when labels.yaml has it, else ``key``."""
    texts = labels.mapping("churn_plots")
    return texts.get(f"{key}_{variant}", texts.get(key, key))


def _require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} has no column {', '.join(map(repr, missing))}; it has "
                         f"{', '.join(map(str, frame.columns))}. Pass the frame the churn code "
                         "returns, or rename its columns.")


def _model_columns(predictions: pd.DataFrame, label: str, models) -> list[str]:
    """The ``p_<model>`` keys to draw, checked against ``predictions``."""
    models = [models] if isinstance(models, str) else list(models)
    if not models:
        raise ValueError("models is empty: name at least one model, e.g. models=['logistic'].")
    present = [str(c)[2:] for c in predictions.columns if str(c).startswith("p_")]
    missing = [m for m in models if f"p_{m}" not in predictions.columns]
    if missing:
        raise ValueError(f"predictions has no probability column for {', '.join(missing)} "
                         f"(expected p_<model>); models present: {', '.join(present) or 'none'}.")
    _require(predictions, "predictions", [label])
    if predictions[label].isna().any():
        raise ValueError(f"predictions[{label!r}] has {int(predictions[label].isna().sum())} "
                         "missing values; keep only rows whose outcome is known.")
    if predictions.empty:
        raise ValueError("predictions has no rows: there is nothing to plot.")
    return models


def _model_name(labels: Labels, names: Mapping[str, str] | None, model: str) -> str:
    if names and model in names:
        return str(names[model])
    return labels.mapping("churn_plots").get(f"model_{model}", model)


def plot_calibration(
    predictions: pd.DataFrame, *, label: str, models: Sequence[str],
    names: Mapping[str, str] | None = None, labels: Labels | None = None, n_bins: int = 10,
    ax: Axes | None = None,
) -> Axes:
    """Reliability diagram: mean predicted probability against the observed share, per model.

    Customers are put into ``n_bins`` bins of (about) equal size by predicted probability
    (scikit-learn's ``CalibrationDisplay``, ``strategy="quantile"``); a well-calibrated model's
    points lie on the diagonal.

    Parameters
    ----------
    predictions
        One row per evaluation customer: the boolean ``label`` column and one ``p_<model>``
        probability column per model (``OutOfTimeResult.predictions``). Other columns, the
        customer id among them, are ignored.
    label
        The outcome column (``churned`` or ``returned``).
    models
        Model keys to draw, e.g. ``["logistic", "boosted"]``: one line each.
    names
        Display name per model key; default the names in labels.yaml, else the key.
    n_bins
        Number of bins per model (fewer points show when probabilities repeat).

    Returns
    -------
    Axes
        The dotted diagonal first, then one line with square markers per model.

    Raises
    ------
    ValueError
        If a model has no ``p_<model>`` column (the message lists those present), the label
        column is missing or has missing values, or there are no rows.

    Examples
    --------
    >>> ax = plot_calibration(result.predictions, label=result.label,  # doctest: +SKIP
    ...                       models=["logistic", "boosted"], labels=Labels("zh"))
    """
    from sklearn.calibration import CalibrationDisplay

    models = _model_columns(predictions, label, models)
    labels = labels or Labels("en")
    ax = new_axes(ax)
    y = predictions[label].astype(bool).to_numpy()
    ax.plot([0, 1], [0, 1], color=_REFERENCE, linestyle=":", linewidth=1,
            label=_text(labels, "perfectly_calibrated"))
    for i, model in enumerate(models):
        CalibrationDisplay.from_predictions(
            y, predictions[f"p_{model}"].to_numpy(float), n_bins=n_bins, strategy="quantile",
            pos_label=True, name=_model_name(labels, names, model), ax=ax, ref_line=False,
            color=_MODEL_COLORS[i % len(_MODEL_COLORS)], markersize=4, linewidth=1.2)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize="small", loc="upper left")  # replaces scikit-learn's
    ax.set(title=_text(labels, "calibration_title", n_bins=n_bins),
           xlabel=_text(labels, "mean_predicted"), ylabel=_specific(labels, "observed", label))
    return ax


def _thin(gain: pd.DataFrame) -> pd.DataFrame:
    """At most :data:`_GAIN_POINTS` + 1 evenly spaced rows, the first and last kept."""
    if len(gain) <= _GAIN_POINTS + 1:
        return gain
    return gain.iloc[np.unique(np.linspace(0, len(gain) - 1, _GAIN_POINTS + 1).round()
                               .astype(int))]


def plot_cumulative_gain(
    predictions: pd.DataFrame, *, label: str, models: Sequence[str],
    names: Mapping[str, str] | None = None, labels: Labels | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Share of all customers with the outcome reached by contacting the highest-scored first.

    One curve per model (:func:`analysis.probability_metrics.cumulative_gain`), with a random order
    (the diagonal) and a perfect model (every customer with the outcome first) for reference.

    Parameters
    ----------
    predictions
        As for :func:`plot_calibration`: the boolean ``label`` and ``p_<model>`` columns.
    label
        The outcome column (``churned`` or ``returned``).
    models
        Model keys to draw: one line each.
    names
        Display name per model key; default the names in labels.yaml, else the key.

    Returns
    -------
    Axes
        Lines in this order: random order (dotted), perfect model (muted), then the models;
        both axes from 0% to 100%.

    Raises
    ------
    ValueError
        As :func:`plot_calibration`.

    Examples
    --------
    >>> ax = plot_cumulative_gain(result.predictions, label="churned",  # doctest: +SKIP
    ...                           models=["boosted"], labels=Labels("en"))
    """
    models = _model_columns(predictions, label, models)
    labels = labels or Labels("en")
    ax = new_axes(ax)
    y = predictions[label].astype(bool).to_numpy()
    ax.plot([0, 1], [0, 1], color=_REFERENCE, linestyle=":", linewidth=1,
            label=_text(labels, "random_order"))
    rate = y.mean()
    ax.plot([0, rate, 1], [0, 1 if y.any() else 0, 1 if y.any() else 0], color=MUTED,
            linewidth=2, label=_text(labels, "perfect_model"))
    for i, model in enumerate(models):
        gain = _thin(cumulative_gain(y, predictions[f"p_{model}"].to_numpy(float)))
        ax.plot(gain["contacted_share"], gain["captured_share"],
                color=_MODEL_COLORS[i % len(_MODEL_COLORS)], linewidth=1.5,
                label=_model_name(labels, names, model))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.xaxis.set_major_formatter(_PERCENT)
    ax.yaxis.set_major_formatter(_PERCENT)
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    ax.set(title=_text(labels, "gain_title"), xlabel=_text(labels, "contacted_share"),
           ylabel=_specific(labels, "captured", label))
    return ax


def plot_drivers(
    drivers: pd.DataFrame, *, names: Mapping[str, str] | None = None,
    labels: Labels | None = None, top: int = 10, ax: Axes | None = None,
) -> Axes:
    """Horizontal bars of the features' permutation importance, the largest on top.

    Parameters
    ----------
    drivers
        :func:`analysis.churn_insight.drivers` output: ``feature``, ``auc_drop``,
        ``auc_drop_std``, ``direction`` (+1, -1 or 0).
    names
        Readable name per feature; default the feature name.
    top
        How many features to show (the ones with the largest ``auc_drop``).

    Returns
    -------
    Axes
        One bar per feature shown, with its standard deviation as an error bar, coloured by
        direction (red: higher values go with a higher probability, blue: with a lower one,
        grey: no clear direction or a category); a legend of the directions present.

    Raises
    ------
    ValueError
        If a column is missing or ``top`` is below 1.

    Examples
    --------
    >>> ax = plot_drivers(drivers(model, rows, "churned"),  # doctest: +SKIP
    ...                   names={"recency_days": "days since last purchase"})
    """
    _require(drivers, "drivers", ["feature", "auc_drop", "auc_drop_std", "direction"])
    if int(top) < 1:
        raise ValueError(f"top must be at least 1, not {top!r}.")
    labels = labels or Labels("en")
    ax = new_axes(ax)
    shown = drivers.sort_values("auc_drop", ascending=False, kind="stable").head(int(top))
    shown = shown.iloc[::-1]  # barh draws from the bottom: the largest last, on top
    direction = np.sign(shown["direction"].fillna(0).to_numpy(float)).astype(int)
    styles = {1: (_RAISES, "direction_up"), -1: (COLOR, "direction_down"),
              0: (MUTED, "direction_none")}
    y = np.arange(len(shown))
    ax.barh(y, shown["auc_drop"].to_numpy(float), xerr=shown["auc_drop_std"].fillna(0).to_numpy(
        float), color=[styles[d][0] for d in direction], height=0.6,
        error_kw={"ecolor": "black", "elinewidth": 0.8, "capsize": 2})
    ax.set_yticks(y, [str((names or {}).get(f, f)) for f in shown["feature"]])
    ax.axvline(0, color="black", linewidth=0.8)
    handles = [Patch(color=color, label=_text(labels, key))
               for d, (color, key) in styles.items() if d in set(direction)]
    if handles:
        ax.legend(handles=handles, frameon=False, fontsize="small", loc="lower right")
    ax.set(title=_text(labels, "drivers_title", top=len(shown)),
           xlabel=_text(labels, "auc_drop"), ylabel="")
    return ax


def _bounds(lower: float, upper: float) -> str:
    if lower <= 0:
        return f"< {upper:.2f}"
    if upper >= 1:
        return f"≥ {lower:.2f}"
    return f"{lower:.2f}–{upper:.2f}"


def plot_risk_tiers(
    tier_table: pd.DataFrame, *, labels: Labels | None = None, ax: Axes | None = None
) -> Axes:
    """Customers per risk tier (bars, share above each), and when known, predicted against
    observed rates per tier on a second axis.

    Parameters
    ----------
    tier_table
        :func:`analysis.churn_insight.tier_table` output: ``tier`` (``low``, ``medium``,
        ``high``), ``lower``, ``upper``, ``customers``, ``share``, ``mean_probability`` and
        optionally ``observed_rate``.

    Returns
    -------
    Axes
        One bar per tier, lowest risk on the left, ticks such as "high (≥ 0.70)". With
        ``observed_rate``, a twin Axes (in ``ax.figure.axes``) holds two marker series: the
        mean predicted probability and the observed rate of each tier.

    Raises
    ------
    ValueError
        If a column is missing.

    Examples
    --------
    >>> table = tier_table(probability, observed=rows["churned"])  # doctest: +SKIP
    >>> ax = plot_risk_tiers(table, labels=Labels("zh"))  # doctest: +SKIP
    """
    _require(tier_table, "tier_table",
             ["tier", "lower", "upper", "customers", "share", "mean_probability"])
    labels = labels or Labels("en")
    ax = new_axes(ax)
    table = tier_table.sort_values("lower", kind="stable")
    texts = labels.mapping("churn_plots")
    x = np.arange(len(table))
    share = table["share"].fillna(0).to_numpy(float)
    bars = ax.bar(x, table["customers"].to_numpy(float), color=COLOR, width=0.6,
                  label=_text(labels, "customers"))
    ax.bar_label(bars, [f"{s:.0%}" for s in share], fontsize="small", padding=2)
    ax.set_ylim(0, max(float(table["customers"].max()), 1) * 1.15)  # room for the shares
    ax.set_xticks(x, [f"{texts.get(f'tier_{t}', str(t))} ({_bounds(lo, hi)})" for t, lo, hi in
                      zip(table["tier"], table["lower"], table["upper"], strict=True)])
    ax.yaxis.set_major_formatter(FuncFormatter(format_money))
    title = "tiers_title"
    if "observed_rate" in table:
        title = "tiers_title_observed"
        twin = ax.twinx()
        twin.plot(x - 0.08, table["mean_probability"].to_numpy(float), linestyle="none",
                  marker="D", markersize=6, color="black", label=_text(labels, "mean_probability"))
        twin.plot(x + 0.08, table["observed_rate"].to_numpy(float), linestyle="none",
                  marker="o", markersize=7, color=_RAISES, label=_text(labels, "observed_rate"))
        twin.set_ylim(0, 1.05)
        twin.set_ylabel(_text(labels, "rate"))
        handles = [*ax.get_legend_handles_labels()[0], *twin.get_legend_handles_labels()[0]]
        ax.legend(handles=handles, frameon=False, fontsize="small", loc="upper center",
                  ncols=3, bbox_to_anchor=(0.5, -0.18))
    ax.set(title=_text(labels, title), xlabel=_text(labels, "tier"),
           ylabel=_text(labels, "customers"))
    return ax
