"""Label review campaigns: creation, the reviewer's queue, progress, statistics, export,
adjudication, and what the results change outside a campaign (summaries, human labels).

Routes call these functions with a sync Session; errors are CampaignNotFound / ItemNotFound
(404; also a verdict on a feature the campaign does not review), InvalidCampaign (422) and
CampaignClosed (409).
"""

from app.services.review.adjudication import (
    adjudicate,
    list_adjudications,
    withdraw_adjudication,
)
from app.services.review.campaigns import (
    CampaignNotFound,
    InvalidCampaign,
    create_campaign,
    get_campaign,
    list_campaigns,
    set_status,
)
from app.services.review.outcomes import refresh_outcomes
from app.services.review.queue import (
    CampaignClosed,
    ItemNotFound,
    answers,
    count_answers,
    get_item,
    next_item,
    rate,
    skip,
)
from app.services.review.results import (
    campaign_progress,
    campaign_stats,
    export_csv,
    export_rows,
)

__all__ = [
    "CampaignClosed",
    "CampaignNotFound",
    "InvalidCampaign",
    "ItemNotFound",
    "adjudicate",
    "answers",
    "campaign_progress",
    "campaign_stats",
    "count_answers",
    "create_campaign",
    "export_csv",
    "export_rows",
    "get_campaign",
    "get_item",
    "list_adjudications",
    "list_campaigns",
    "next_item",
    "rate",
    "refresh_outcomes",
    "set_status",
    "skip",
    "withdraw_adjudication",
]
