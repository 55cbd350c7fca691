"""Bolt listeners and the aiohttp routes: each acks at once and hands work to IncidentService."""
