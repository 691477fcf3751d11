from __future__ import annotations

import coursewatch


def test_exported_names_are_exactly_all() -> None:
    public = {n for n in dir(coursewatch) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(coursewatch, n)).__name__ == "module"}
    modules.add("annotations")  # from __future__
    assert public - modules == set(coursewatch.__all__) - {"__version__"}
    assert coursewatch.__version__
