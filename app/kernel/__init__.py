"""The agent kernel: context window, step loop, scheduler, quick-command router. Never Qt."""
