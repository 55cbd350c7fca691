"""Four-eyes on an incident Alertmanager opened (nobody asked for it): whoever clicked Verify may not also Apply.

A real Alertmanager, configured like deploy/docker/alertmanager.yml, posts the alert to the bot's webhook
with its bearer token; the bot runs as `aegis serve --http` builds it on the real control plane, and
every click is a Slack-signed request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from aegis.bot.render import blocks
from aegis.core.models import Incident, IncidentSource, IncidentState
from tests.integration.bot.test_slack_http import ALERT_TOKEN
from tests.integration.conftest import Cluster
from tests.integration.observability.alertmanager import alertmanager, config_for_test
from tests.integration.remediation.test_fix_lifecycle_slack import APPROVER, diagnosed, running_bot
from tests.integration.shadow.test_shadow_live import poll

pytestmark = pytest.mark.integration

SECOND = "U0SECONDAPPROVER"


async def test_the_verifier_of_an_alert_incident_may_not_apply_it(control_plane: Cluster, tmp_path: Path) -> None:
    """AEGIS_FOUR_EYES: the approver who verified the alert's fix is refused Apply (named as the verifier, audited, nothing
    patched); a second approver applies it."""
    token_file = tmp_path / "alertmanager-token"
    token_file.write_text(ALERT_TOKEN)
    settings = {"four_eyes": True, "alertmanager_token": ALERT_TOKEN, "approvers": [APPROVER, SECOND]}
    async with running_bot(control_plane, tmp_path, **settings) as bot:
        # The example takes a moment to break: analyze it by hand until it shows, then close that incident.
        by_hand = await diagnosed(bot)
        await bot.store.transition(by_hand.id, allowed_from={by_hand.state}, to=IncidentState.REJECTED, actor="test", reason="the alert opens its own")

        webhook = str(bot.http.base_url).rstrip("/") + "/alertmanager/webhook"
        async with alertmanager(tmp_path, config_for_test(webhook, token_file)) as am, httpx.AsyncClient(timeout=10) as http:
            alert = {
                "labels": {"alertname": "KubeDeploymentReplicasMismatch", "namespace": bot.namespace, "deployment": "quote-api", "severity": "warning"},
                "annotations": {"summary": "quote-api has had no ready replica for 15 minutes."},
                "startsAt": datetime.now(UTC).isoformat(),
            }
            assert (await http.post(f"http://{am}/api/v2/alerts", json=[alert])).status_code == 200

            async def alert_diagnosed() -> Incident | None:
                for incident in await bot.store.list_open():
                    proposed = incident.state is IncidentState.DIAGNOSED and incident.diagnosis is not None and incident.diagnosis.fix is not None
                    if incident.source is IncidentSource.ALERTMANAGER and proposed:
                        return incident
                return None

            incident: Incident = await poll("Alertmanager's incident diagnosed with a fix", alert_diagnosed, 90)
            assert incident.requested_by is None, "an alert's incident has no requester"

            await bot.click(blocks.ACTION_VERIFY, incident, APPROVER)
            await bot.settle()
            verified = await bot.store.get(incident.id)
            assert verified is not None and verified.state is IncidentState.VERIFIED, verified.last_error if verified else None
            generation = bot.deployment()["metadata"]["generation"]

            await bot.click(blocks.ACTION_APPLY, verified, APPROVER)
            await bot.settle()
            reply = bot.ephemerals_for(APPROVER)[-1]
            assert "four-eyes" in reply and "verified the fix" in reply and "Nothing changed" in reply, reply
            still = await bot.store.get(incident.id)
            assert still is not None and still.state is IncidentState.VERIFIED
            assert bot.deployment()["metadata"]["generation"] == generation, "the verifier's Apply patched the workload"
            audit = [(a.actor, a.action, a.outcome, a.detail) for a in await bot.store.audit(incident.id)]
            assert any(a[:3] == (APPROVER, "apply", "refused") and "four-eyes" in a[3] for a in audit), audit

            await bot.click(blocks.ACTION_APPLY, verified, SECOND)
            await bot.settle()
            applied = await bot.store.get(incident.id)
            assert applied is not None and applied.state is IncidentState.APPLIED, applied.last_error if applied else None
            assert bot.deployment()["metadata"]["generation"] == generation + 1
            audit = [(a.actor, a.action, a.outcome) for a in await bot.store.audit(incident.id)]
            assert (SECOND, "apply", "ok") in audit, audit
