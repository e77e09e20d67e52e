//! The regions of the `aws` partition, as botocore's `partitions.json` lists
//! them (data, not code: a new region is one line).

/// Every region of the `aws` partition.
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Whether `region` is a region of the partition.
pub fn is_partition_region(region: &str) -> bool {
    AWS_REGIONS.contains(&region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_partition_and_nothing_else() {
        assert!(is_partition_region("us-east-1"));
        assert!(is_partition_region("eu-west-1"));
        for bogus in ["xx-bogus-9", "", "US-EAST-1", "us-east-1 ", "aws-global", "cn-north-1"] {
            assert!(!is_partition_region(bogus), "{bogus:?}");
        }
        let mut sorted = AWS_REGIONS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), AWS_REGIONS.len());
    }
}
