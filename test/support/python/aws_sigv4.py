"""AWS-side helpers for the tests, written against botocore (AWS's own Python signer), so SigV4
signatures made by the extension are checked by an independent implementation.

  python aws_sigv4.py verify-server
      An OTLP endpoint on 127.0.0.1 that recomputes each request's SigV4 signature with botocore from
      the headers the request says it signed, the body it received and the credentials in
      VERIFY_ACCESS_KEY_ID / VERIFY_SECRET_ACCESS_KEY / VERIFY_SESSION_TOKEN. A request signed right
      gets 200 (an empty OTLP response), anything else 403. Prints the port on the first line.
      GET /_requests answers the verdicts so far as JSON.

  python aws_sigv4.py moto-setup <endpoint-url>
      Against a moto server started with INITIAL_NO_AUTH_ACTION_COUNT: creates an IAM user allowed to
      read secrets and parameters, one allowed nothing, the secrets and parameters the tests
      look up, and prints their names, ARNs and the users' access keys as JSON. Makes exactly SETUP_ACTIONS requests.
"""

import hashlib
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def _between(text, first, second):
    return text.partition(first)[2].partition(second)[0]


def verify(method, path, headers, body, credentials):
    """Returns (ok, reason, scope) for one received request."""
    auth_header = headers.get("authorization", "")
    if not auth_header.startswith("AWS4-HMAC-SHA256 "):
        return False, "no SigV4 authorization header", None
    scope = _between(auth_header, "Credential=", ",").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return False, "malformed credential scope", None
    access_key, date, region, service = scope[0], scope[1], scope[2], scope[3]
    if access_key != credentials.access_key:
        return False, "unknown access key", None
    signed = _between(auth_header, "SignedHeaders=", ",").split(";")
    for required in ("host", "x-amz-date"):
        if required not in signed:
            return False, f"{required} is not signed", None
    if credentials.token and headers.get("x-amz-security-token") != credentials.token:
        return False, "session token missing or wrong", None
    if credentials.token and "x-amz-security-token" not in signed:
        return False, "session token not signed", None
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(date):
        return False, "x-amz-date does not match the credential scope date", None
    content_hash = headers.get("x-amz-content-sha256")
    if content_hash is not None and content_hash != hashlib.sha256(body).hexdigest():
        return False, "x-amz-content-sha256 is not the hash of the body received", None
    request = AWSRequest(
        method=method,
        url=path,
        data=body,
        headers={name: value for name, value in headers.items() if name in signed},
    )
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(credentials, service, region)
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    if expected != _between(auth_header, "Signature=", ","):
        return False, "signature does not match", None
    return True, "ok", {"service": service, "region": region, "signedHeaders": signed}


def verify_server():
    import os

    credentials = Credentials(
        os.environ["VERIFY_ACCESS_KEY_ID"],
        os.environ["VERIFY_SECRET_ACCESS_KEY"],
        os.environ.get("VERIFY_SESSION_TOKEN") or None,
    )
    verdicts = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _answer(self, status, body, content_type):
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with lock:
                body = json.dumps(verdicts).encode()
            self._answer(200, body, "application/json")

        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            ok, reason, scope = verify("POST", self.path, headers, body, credentials)
            with lock:
                verdicts.append(
                    {
                        "path": self.path,
                        "ok": ok,
                        "reason": reason,
                        "scope": scope,
                        "bodyBytes": len(body),
                        "contentEncoding": headers.get("content-encoding"),
                        "logGroup": headers.get("x-aws-log-group"),
                        "logStream": headers.get("x-aws-log-stream"),
                    }
                )
            if ok:
                self._answer(200, b"", "application/x-protobuf")
            else:
                self._answer(403, json.dumps({"message": reason}).encode(), "application/json")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


SETUP_ACTIONS = 8


def moto_setup(endpoint):
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="AKIASETUPSETUPSETUP0",
        aws_secret_access_key="setup",
        region_name="us-east-1",
    )
    iam = session.client("iam", endpoint_url=endpoint)
    sm = session.client("secretsmanager", endpoint_url=endpoint)
    ssm = session.client("ssm", endpoint_url=endpoint)
    plain = sm.create_secret(Name="otel/datadog-api-key", SecretString="dd-key-from-secrets-manager-0001")
    as_json = sm.create_secret(
        Name="otel/backend", SecretString=json.dumps({"token": "json-token-0002", "other": "x"})
    )
    ssm.put_parameter(Name="/otel/collector-token", Value="ssm-token-0004", Type="SecureString")
    # moto checks IAM actions but not resources: access denied is a user without the permission.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "ssm:GetParameter"], "Resource": "*"}
        ],
    }
    iam.create_user(UserName="function")
    iam.put_user_policy(UserName="function", PolicyName="read", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="function")["AccessKey"]
    iam.create_user(UserName="no-access")
    denied_key = iam.create_access_key(UserName="no-access")["AccessKey"]
    print(
        json.dumps(
            {
                "accessKeyId": key["AccessKeyId"],
                "secretAccessKey": key["SecretAccessKey"],
                "deniedAccessKeyId": denied_key["AccessKeyId"],
                "deniedSecretAccessKey": denied_key["SecretAccessKey"],
                "plainArn": plain["ARN"],
                "jsonArn": as_json["ARN"],
                "missingArn": plain["ARN"][:-7] + "-missing-AbCdEf",
                "parameter": "/otel/collector-token",
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "verify-server":
        verify_server()
    elif sys.argv[1] == "moto-setup":
        moto_setup(sys.argv[2])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
