"""The Discord surface: the bot, its components, the notifier and every sentence a member reads."""
