#!/usr/bin/env python3
"""Self-test of the IMDS emulator and the STS AssumeRoleWithWebIdentity route (unittest, standard
library only): IMDSv2 token TTL rules, 401 without a valid token, IMDSv1 mode, credentials the
AppConfig emulator accepts until their Expiration, faults; web identity token checks and rotation.

Run:  python3 test/emulator/test_imds.py [-v]
"""
import http.client
import json
import os
import sys
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import appconfig_data as ad  # noqa: E402
import imds  # noqa: E402

ROLE = "arn:aws:iam::111111111111:role/irsa"


def call(port, method, path, headers=None, body=b""):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class ImdsCase(unittest.TestCase):
    def setUp(self):
        self.em = ad.Emulator().start()
        self.md = imds.Imds(appconfig=self.em, lifetime_s=60).start()

    def tearDown(self):
        self.md.stop()
        self.em.stop()

    def token(self, ttl="21600"):
        return call(self.md.port, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": ttl})

    def test_token_ttl_rules_and_401(self):
        for bad in (None, "0", "21601", "x"):
            status, _ = call(self.md.port, "PUT", "/latest/api/token",
                             {} if bad is None else {"X-aws-ec2-metadata-token-ttl-seconds": bad})
            self.assertEqual(status, 400, bad)
        status, tok = self.token("1")
        self.assertEqual(status, 200)
        path = imds.CREDS_PREFIX
        self.assertEqual(call(self.md.port, "GET", path)[0], 401)  # no token
        self.assertEqual(call(self.md.port, "GET", path, {"X-aws-ec2-metadata-token": "forged"})[0], 401)
        self.assertEqual(call(self.md.port, "GET", path, {"X-aws-ec2-metadata-token": tok.decode()}),
                         (200, self.md.role.encode()))
        time.sleep(1.1)  # the 1 s TTL passed
        self.assertEqual(call(self.md.port, "GET", path, {"X-aws-ec2-metadata-token": tok.decode()})[0], 401)
        self.assertEqual(self.md.ttls, [1])

    def test_credentials_expire_and_are_accepted_until_then(self):
        _, tok = self.token()
        h = {"X-aws-ec2-metadata-token": tok.decode()}
        status, body = call(self.md.port, "GET", imds.CREDS_PREFIX + self.md.role, h)
        self.assertEqual(status, 200)
        doc = json.loads(body)
        self.assertEqual(doc["Code"], "Success")
        entry = self.em.credentials[doc["AccessKeyId"]]
        self.assertEqual(entry["secret"], doc["SecretAccessKey"])
        self.assertEqual(entry["token"], doc["Token"])
        self.assertAlmostEqual(entry["expires_at"], time.time() + 60, delta=3)
        self.assertEqual(call(self.md.port, "GET", imds.CREDS_PREFIX + "other-role", h)[0], 404)
        self.assertEqual(call(self.md.port, "GET", "/latest/meta-data/placement/region", h), (200, b"us-east-1"))
        self.md.expire_tokens()
        self.assertEqual(call(self.md.port, "GET", imds.CREDS_PREFIX, h)[0], 401)

    def test_v1_mode_and_faults(self):
        v1 = imds.Imds(appconfig=self.em, v1=True, token_status=404).start()
        try:
            self.assertEqual(call(v1.port, "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "5"})[0],
                             404)
            self.assertEqual(call(v1.port, "GET", imds.CREDS_PREFIX)[0], 200)  # no token needed
        finally:
            v1.stop()
        self.md.fault("token", count=1, status=503)
        self.assertEqual(self.token()[0], 503)
        self.assertEqual(self.token()[0], 200)
        self.assertEqual(self.md.counters()["token"], 2)


class WebIdentityCase(unittest.TestCase):
    def setUp(self):
        self.em = ad.Emulator().start()
        self.em.add_web_identity_role(ROLE, "default", "jwt-1", lifetime_s=900)

    def tearDown(self):
        self.em.stop()

    def sts(self, token, headers=None):
        body = urllib.parse.urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                                       "RoleArn": ROLE, "RoleSessionName": "s1", "WebIdentityToken": token}).encode()
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return call(self.em.port, "POST", "/", h, body)

    def test_token_checked_rotated_and_unsigned_only(self):
        status, body = self.sts("jwt-1")
        self.assertEqual(status, 200, body)
        self.assertIn(b"<AccessKeyId>ASIA", body)
        self.assertEqual(self.sts("jwt-1", {"Authorization": "AWS4-HMAC-SHA256 Credential=x"})[0], 400)
        self.em.add_web_identity_role(ROLE, "default", "jwt-2")  # rotation
        status, body = self.sts("jwt-1")
        self.assertEqual(status, 400)
        self.assertIn(b"InvalidIdentityToken", body)
        self.assertEqual(self.sts("jwt-2")[0], 200)
        calls = self.em.counters()["web_identity_calls"]
        self.assertEqual([c["WebIdentityToken"] for c in calls], ["jwt-1", "jwt-1", "jwt-2"])  # the signed one is refused first


if __name__ == "__main__":
    unittest.main()
