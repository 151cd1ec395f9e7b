"""ftaudit: tells you why a fine-tune of a BERT-style text classifier failed, and fails CI when it generalizes badly."""

__version__ = "0.1.0"
