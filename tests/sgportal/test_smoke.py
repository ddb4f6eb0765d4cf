from sgportal.models import Tenant


def test_it_creates_the_fixture_tenants(tenant, other_tenant, outsider):
    assert set(Tenant.objects.values_list("slug", flat=True)) == {"acme", "globex"}
    assert Tenant.objects.for_user(outsider).get() == other_tenant
