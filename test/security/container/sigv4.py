# Runs INSIDE the sandbox: signs an S3 request with AWS Signature Version 4 using the
# credentials the sandbox holds (Airlock's placeholders), as any AWS SDK would.
#
#   python3 sigv4.py header  <METHOD> <host> <path> <query> [streaming]  -> curl -H lines
#   python3 sigv4.py presign <METHOD> <host> <path> <query>              -> a presigned URL
#
# Algorithm: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
import datetime
import hashlib
import hmac
import os
import sys
import urllib.parse


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    k = hmac256(('AWS4' + secret).encode(), date)
    for part in (region, service, 'aws4_request'):
        k = hmac256(k, part)
    return k


def canonical_query(q):
    pairs = urllib.parse.parse_qsl(q, keep_blank_values=True)
    enc = lambda s: urllib.parse.quote(s, safe='-_.~')
    return '&'.join('%s=%s' % (enc(k), enc(v)) for k, v in sorted(pairs))


mode, method, host, path, query = sys.argv[1:6]
streaming = len(sys.argv) > 6
ak = os.environ['AWS_ACCESS_KEY_ID']
sk = os.environ['AWS_SECRET_ACCESS_KEY']
region = os.environ.get('AWS_REGION', 'us-east-1')
now = datetime.datetime.now(datetime.timezone.utc)
amzdate = now.strftime('%Y%m%dT%H%M%SZ')
date = now.strftime('%Y%m%d')
scope = '%s/%s/s3/aws4_request' % (date, region)

if mode == 'presign':
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    params.update({
        'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
        'X-Amz-Credential': '%s/%s' % (ak, scope),
        'X-Amz-Date': amzdate,
        'X-Amz-Expires': '300',
        'X-Amz-SignedHeaders': 'host',
    })
    q = canonical_query(urllib.parse.urlencode(params))
    creq = '\n'.join([method, path, q, 'host:%s\n' % host, 'host', 'UNSIGNED-PAYLOAD'])
    sts = '\n'.join(['AWS4-HMAC-SHA256', amzdate, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(sk, date, region, 's3'), sts.encode(), hashlib.sha256).hexdigest()
    print('https://%s%s?%s&X-Amz-Signature=%s' % (host, path, q, sig))
else:
    payload = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' if streaming else hashlib.sha256(b'').hexdigest()
    headers = {'host': host, 'x-amz-content-sha256': payload, 'x-amz-date': amzdate}
    signed = ';'.join(sorted(headers))
    canon = ''.join('%s:%s\n' % (k, headers[k]) for k in sorted(headers))
    creq = '\n'.join([method, path, canonical_query(query), canon, signed, payload])
    sts = '\n'.join(['AWS4-HMAC-SHA256', amzdate, scope, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(signing_key(sk, date, region, 's3'), sts.encode(), hashlib.sha256).hexdigest()
    print('Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s' % (ak, scope, signed, sig))
    print('x-amz-content-sha256: %s' % payload)
    print('x-amz-date: %s' % amzdate)
