"""The permission gate, the action journal and undo: how Pagemind acts safely on the computer."""
