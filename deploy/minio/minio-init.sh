#!/bin/sh
# One-shot, at every `docker compose up`: the bucket exists and is private, and the app's own
# account can reach that bucket and nothing else. Idempotent. Reads secrets from files and
# never echoes them.
set -eu
root_user=$(cat /run/secrets/minio_root_user)
root_password=$(cat /run/secrets/minio_root_password)
app_user=$(cat /run/secrets/s3_access_key)
app_password=$(cat /run/secrets/s3_secret_key)
mc alias set local http://minio:9000 "$root_user" "$root_password" >/dev/null
mc mb --ignore-existing local/tipline >/dev/null
mc anonymous set none local/tipline >/dev/null
cat > /tmp/tipline-policy.json <<POLICY
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:GetBucketAcl",
   "s3:GetBucketPolicy"], "Resource": ["arn:aws:s3:::tipline"]},
  {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
   "Resource": ["arn:aws:s3:::tipline/*"]}]}
POLICY
mc admin policy create local tipline-app /tmp/tipline-policy.json >/dev/null 2>&1 || true
mc admin user add local "$app_user" "$app_password" >/dev/null
mc admin policy attach local tipline-app --user "$app_user" >/dev/null 2>&1 || true
echo "minio-init: bucket tipline is private; the app's account is limited to it"
