"""CI generation: spec -> provider-neutral jobs (``model``) -> one renderer per provider."""
