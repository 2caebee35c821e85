"""Policy data: the tariff file format, its schema, the loader and the default tariffs.

See docs/tariffs.md for the format. `load_default()` reads the tariffs shipped under
`tariffs/data/`; `load_tariffs(path)` reads any directory of tariff files.
"""

from tariffs.loader import (
    DEFAULT_TARIFF_DIR,
    LoadedTariffs,
    TariffError,
    load_default,
    load_tariffs,
)

__all__ = ["DEFAULT_TARIFF_DIR", "LoadedTariffs", "TariffError", "load_default", "load_tariffs"]
