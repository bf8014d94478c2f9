"""Label review campaigns: creation, the reviewer's queue, progress, statistics and export.

Routes call these functions with a sync Session; errors are CampaignNotFound / ItemNotFound
(404), InvalidCampaign (422) and CampaignClosed (409).
"""

from app.services.review.campaigns import (
    CampaignNotFound,
    InvalidCampaign,
    create_campaign,
    get_campaign,
    list_campaigns,
    set_status,
)
from app.services.review.queue import (
    CampaignClosed,
    ItemNotFound,
    answers,
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
    "answers",
    "campaign_progress",
    "campaign_stats",
    "create_campaign",
    "export_csv",
    "export_rows",
    "get_campaign",
    "get_item",
    "list_campaigns",
    "next_item",
    "rate",
    "set_status",
    "skip",
]
