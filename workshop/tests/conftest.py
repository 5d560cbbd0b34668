from overlays.tests.fixtures import (  # noqa: F401 - fixtures
    ctx,
    overlay,
    owner,
    owner_client,
    private_roots,
    staff,
    stranger,
)
