"""The engine: what happens to a job and to credits, with no discord (it talks through bot.engine.ports)."""
