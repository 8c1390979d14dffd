"""One user's trading: the cycle's decisions, order desk, strategy and day book, pure where it can be."""
