"""Reconciliation (DESIGN.md §5–§6): rules D, L, S, R over one code's events, and the runs that apply them."""
