"""The health endpoint for load balancers and monitoring: 200 when every required service is up, else 503."""

from dataclasses import asdict

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.health.services import services_check, services_healthy


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    statuses = services_check()
    healthy = services_healthy(statuses=statuses)
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "services": [asdict(status) for status in statuses]},
        status=200 if healthy else 503,
    )
