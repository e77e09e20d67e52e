//! AWS wire protocols driven by botocore service models.
