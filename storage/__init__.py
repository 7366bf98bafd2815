"""Storage: SQLAlchemy tables, repositories and migrations behind the core's store protocols."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.stores import DuplicateSubscription, Stores
from storage.channels import ChannelRepository
from storage.db import DatabaseError, is_sqlite, open_database, ping
from storage.deliveries import DeliveryRepository
from storage.feedback import SaveRepository, VoteRepository
from storage.locks import AdvisoryLocks, ProcessLocks
from storage.papers import PaperRepository
from storage.retention import RetentionRepository
from storage.seen import SeenRequestRepository
from storage.source_urls import SourceUrlRepository
from storage.sources import SourceStateRepository

__all__ = ["DatabaseError", "DuplicateSubscription", "build_stores", "open_database", "ping"]


def build_stores(engine: AsyncEngine) -> Stores:
    """Every repository over one engine, with the right kind of channel lock for the backend."""
    papers = PaperRepository(engine)
    return Stores(
        papers=papers,
        channels=ChannelRepository(engine),
        deliveries=DeliveryRepository(engine),
        sources=SourceStateRepository(engine),
        locks=ProcessLocks() if is_sqlite(engine) else AdvisoryLocks(engine),
        urls=SourceUrlRepository(engine),
        retention=RetentionRepository(engine, papers),
        seen=SeenRequestRepository(engine),
        votes=VoteRepository(engine),
        saves=SaveRepository(engine),
    )
