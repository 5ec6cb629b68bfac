// Package awserr turns the AWS SDK's errors into messages for people: what
// failed, on which resource, and what to do, without the SDK's operation
// chain, status codes or request IDs (those stay in the error itself, for
// --debug). One translation for every command, applied where messages are
// printed, rather than a fix per call site.
package awserr

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/smithy-go"
)

// Text is err's message for people: the context the program wrapped
// around an AWS call (which names the resource: "put s3://b/k", "describe
// table T"), then what AWS said, in plain words with advice. An error
// without an AWS call in it is returned as it is.
func Text(err error) string {
	if err == nil {
		return ""
	}
	full := err.Error()
	// The program wraps an AWS call's error as "context: <the SDK's
	// text>", so replacing the SDK's text keeps the context, which names
	// the resource. Every AWS error in the tree is replaced (errors.Join
	// holds several).
	for _, op := range operations(err, nil) {
		full = strings.ReplaceAll(full, op.Error(), explain(op))
	}
	return full
}

// operations collects the outermost SDK operation errors in err's tree.
func operations(err error, found []*smithy.OperationError) []*smithy.OperationError {
	if op, ok := err.(*smithy.OperationError); ok {
		return append(found, op)
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			return operations(e, found)
		}
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			found = operations(e, found)
		}
	}
	return found
}

// explain says what an operation's failure means.
func explain(op *smithy.OperationError) string {
	service, operation := op.Service(), op.Operation()
	var ae smithy.APIError
	if !errors.As(op, &ae) {
		var ne net.Error
		var oe *net.OpError
		var de *net.DNSError
		switch {
		case errors.As(op, &de):
			return fmt.Sprintf("cannot reach %s: the host %s is not known (check the region and the endpoint: --endpoint-url, AWS_ENDPOINT_URL)", service, de.Name)
		case errors.As(op, &oe):
			return fmt.Sprintf("cannot reach %s (%s %s): %v; check the network, the region and the endpoint (--endpoint-url, AWS_ENDPOINT_URL)", service, oe.Op, addr(oe), oe.Err)
		case errors.As(op, &ne) && ne.Timeout():
			return fmt.Sprintf("%s did not answer %s in time; check the network and retry", service, operation)
		}
		return fmt.Sprintf("%s %s failed: %v", service, operation, innermost(op))
	}
	code, message := ae.ErrorCode(), strings.TrimSpace(ae.ErrorMessage())
	switch code {
	case "NoSuchBucket":
		return "the bucket does not exist (check the bucket name, and that it is in this account)"
	case "NoSuchKey", "NotFound":
		return "no such object"
	case "NoSuchLifecycleConfiguration":
		return "the bucket has no lifecycle rules"
	case "AccessDenied", "AccessDeniedException", "Forbidden", "403":
		// awsconf says which bucket and owner a 403 under
		// --expected-bucket-owner was about: keep its words.
		if inner := op.Err.Error(); strings.HasPrefix(inner, "access to bucket ") {
			if i := strings.Index(inner, ": the bucket belongs to another account, or this identity may not use it"); i > 0 {
				return inner[:i] + ": the bucket belongs to another account, or this identity may not use it"
			}
		}
		return fmt.Sprintf("access denied: the credentials in use may not %s %s here; check the IAM and bucket policies (and --profile, --source-profile, --expected-bucket-owner)", service, operation)
	case "ResourceNotFoundException", "TableNotFoundException":
		return "the table does not exist in this region (check --table and --region)"
	case "ResourceInUseException":
		return "the table already exists, or is being created or deleted: choose another name or wait"
	case "ValidationException":
		return fmt.Sprintf("%s refused the request as invalid: %s", service, message)
	case "ExpiredToken", "ExpiredTokenException", "RequestExpired":
		return "the AWS credentials have expired: refresh them (e.g. aws sso login) and rerun"
	case "InvalidAccessKeyId", "UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidSignatureException":
		return "the AWS credentials were not accepted: check AWS_PROFILE/--profile and the keys in use"
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "301":
		return "the bucket is in another region than the one asked; pass its region or let dynasnap look it up"
	case "ThrottlingException", "Throttling", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "SlowDown", "TooManyRequestsException":
		return fmt.Sprintf("%s kept throttling %s after every retry: lower the concurrency or the rate, or retry later", service, operation)
	case "KMS.NotFoundException", "KMS.DisabledException", "KMSAccessDeniedException", "KMS.AccessDeniedException":
		return fmt.Sprintf("the KMS key cannot be used (%s): check the key id and its policy", code)
	case "UnknownOperationException":
		return fmt.Sprintf("this endpoint does not support %s %s", service, operation)
	case "PreconditionFailed":
		return "the object already exists (a conditional write found it)"
	}
	if message == "" {
		return fmt.Sprintf("%s %s failed: %s", service, operation, code)
	}
	return fmt.Sprintf("%s %s failed: %s: %s", service, operation, code, message)
}

func addr(oe *net.OpError) string {
	if oe.Addr != nil {
		return oe.Addr.String()
	}
	return ""
}

// innermost is the deepest error of the chain: the cause, without the
// layers that repeat it.
func innermost(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// IsNotFound reports whether S3 answered that the object (or the version)
// does not exist, by its error code; a missing bucket is not this.
func IsNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "NoSuchKey", "NoSuchVersion", "404":
			return true
		}
	}
	return false
}
