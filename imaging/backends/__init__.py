"""Image backends behind one interface (`base.ImageBackend`); each module wraps one backend."""

__all__: list[str] = []
