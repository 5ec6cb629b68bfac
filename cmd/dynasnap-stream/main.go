// Command dynasnap-stream is the AWS Lambda that writes DynamoDB Streams
// records into the S3 versioned backup bucket.
package main

func main() {}
