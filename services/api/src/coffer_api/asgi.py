"""What uvicorn imports: the app built from the environment's settings."""

from coffer_api.logs import configure_logging
from coffer_api.main import create_asgi_app
from coffer_api.settings import Settings

_settings = Settings()
configure_logging(_settings.log_level)
app = create_asgi_app(_settings)
