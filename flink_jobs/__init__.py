"""PyFlink job of the Liquidation Cascade Monitor: features in SQL, scores in Python UDFs."""
