"""Content Jumpstart API: aiohttp + asyncpg, raw SQL, no ORM."""

__version__ = "0.1.0"
SERVICE_NAME = "Content Jumpstart API"
