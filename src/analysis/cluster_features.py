"""What the clustering sees: one row of behaviour per customer, in original units.

RFM-like measures come from the customer summary (``10-data-quality``'s hand-off); the spend mix
over the main categories and channels from the cleaned lines when they have those columns. The
clustering pipeline log-scales the heavy-tailed measures (``attrs["log_columns"]``) and
standardises everything; profiles are reported back in these original units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import ConfigError, require_columns
from analysis.spend_mix import spend_mix

__all__ = ["BEHAVIOUR", "DEFAULT_FEATURES", "clustering_features"]

#: Feature name -> the summary column it is read from. All are heavy-tailed, so log-scaled.
BEHAVIOUR = {
    "frequency": "orders",
    "recency_days": None,  # observation end - last purchase, in days
    "monetary": "revenue",
    "tenure_days": "tenure_days",
    "average_order_value": "average_order_value",
}
#: The default feature set: every behaviour measure plus the spend mix (``mix``) when present.
DEFAULT_FEATURES = (*BEHAVIOUR, "mix")


def clustering_features(summary: pd.DataFrame, transactions: pd.DataFrame | None = None, *,
                        features=DEFAULT_FEATURES) -> pd.DataFrame:
    """One row per customer with the chosen behaviour measures and spend mix.

    Parameters
    ----------
    summary
        :func:`analysis.summary.customer_summary` output (``customer_id``, ``orders``,
        ``revenue``, ``tenure_days``, ``average_order_value``, ``last_purchase``;
        ``attrs["observation_end"]``).
    transactions
        Cleaned lines (``customer_id``, ``amount`` and ``category`` / ``channel``) for the spend
        mix; None leaves the mix out.
    features
        Names from :data:`BEHAVIOUR` and ``mix`` (the category and channel shares).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` in the summary's order: the chosen measures as floats
        (``frequency`` = purchase occasions, ``recency_days`` since the last purchase,
        ``monetary`` = revenue, ``tenure_days``, ``average_order_value``, negative values
        clipped to 0) and ``share_<facet>_<value>`` columns (0 for a customer with no positive
        spend; a share that is the same for everyone is left out).
        ``attrs["log_columns"]`` lists the measures to log-scale.

    Raises
    ------
    ConfigError
        An unknown feature name, no feature at all, or only ``mix`` on lines without a
        category or channel that varies.
    DataContractError
        A summary column is missing.
    """
    features = list(features)
    unknown = [f for f in features if f not in DEFAULT_FEATURES]
    if unknown or not features:
        raise ConfigError(f"cluster_features: unknown {unknown or 'empty list'}; choose from "
                          f"{', '.join(DEFAULT_FEATURES)}.")
    measures = [f for f in features if f in BEHAVIOUR]
    needed = ["customer_id", *(BEHAVIOUR[f] for f in measures if BEHAVIOUR[f])]
    if "recency_days" in measures:
        needed.append("last_purchase")
    require_columns(summary, needed, source="the customer summary",
                    hint="Use customer_summary.parquet written by 10-data-quality.")
    frame = pd.DataFrame(index=pd.Index(summary["customer_id"], name="customer_id"))
    for name in measures:
        if name == "recency_days":
            end = pd.Timestamp(summary.attrs.get("observation_end",
                                                 summary["last_purchase"].max())).normalize()
            values = (end - summary["last_purchase"].dt.normalize()).dt.days
        else:
            values = summary[BEHAVIOUR[name]]
        frame[name] = np.clip(pd.to_numeric(values).to_numpy(float), 0, None)
    if "mix" in features and transactions is not None:
        mix = spend_mix(transactions).reindex(frame.index)
        mix = mix.loc[:, mix.nunique() > 1]  # e.g. an empty "other": it cannot tell anyone apart
        frame = frame.join(mix).fillna({c: 0.0 for c in mix.columns})
    frame = frame.fillna(0.0)
    if frame.shape[1] == 0:
        raise ConfigError("cluster_features: only the spend mix was asked for, but the lines "
                          "have no category or channel column (or only one value in them); "
                          "add behaviour measures such as monetary and frequency.")
    frame.attrs["log_columns"] = measures
    return frame
