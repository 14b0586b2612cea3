#!/usr/bin/env python3
"""Convert llhttp-cases.json (see /work/shared/testdata/http/FORMAT.md) into
llhttp-cases.txt, a line format the C++ test reads without a JSON library.

Usage: python3 convert.py llhttp-cases.json > llhttp-cases.txt

Per case (all byte strings hex-encoded, '-' for empty):
  case <file>:<line> <type> err=<llhttp error code or 0> erroff=<n> msgs=<n> noscan=<0|1> skipbody=<0|1>
  input <hex>
  then per message that reached "headers complete":
  msg method=<hex> url=<hex> version=<hex> status=<n> flags=<hex> cl=<n> complete=<0|1>
  h <name hex> <value hex>        (one per header field, in order)
  t <name hex> <value hex>        (one per trailer field after a last chunk)
  body <hex>                      (concatenated body spans, after the headers)
  end
Span bytes are taken from the input by the log's off/len, not from the
escaped text, so they are exact.
"""
import json, re, sys

SPAN = re.compile(r'^off=(\d+) len=(\d+) span\[(\w+)\]=')
HC = re.compile(r'^off=(\d+) headers complete (?:method=(\d+)|status=(\d+)) v=(\d+)/(\d+) flags=([0-9a-f]+) content_length=(\d+)')

def hx(b):
    return b.hex() if b else '-'

def main():
    cases = json.load(open(sys.argv[1], encoding='utf-8'))
    out = []
    for c in cases:
        if c['type'] == 'url':
            continue
        data = bytes.fromhex(c['input_hex'])
        meta = c.get('meta') or {}
        err = c['error']
        out.append('case %s:%d %s err=%d erroff=%d msgs=%d noscan=%d skipbody=%d' % (
            c['file'], c['line'], c['type'], err['code'] if err else 0, err['off'] if err else 0,
            c['messages'], 1 if meta.get('noScan') else 0, 1 if meta.get('skipBody') else 0))
        out.append('input ' + hx(data))
        msgs = []
        cur = None
        field = b''
        value = b''
        for line in c['log']:
            if line.endswith('message begin'):
                cur = {'method': b'', 'url': b'', 'version': b'', 'headers': [], 'body': b'',
                       'hc': None, 'complete': 0, 'trailers': []}
                msgs.append(cur)
                continue
            m = SPAN.match(line)
            if m:
                off, ln, kind = int(m.group(1)), int(m.group(2)), m.group(3)
                b = data[off:off + ln]
                if kind in ('method', 'url', 'version', 'body'):
                    cur[kind] += b
                elif kind == 'header_field':
                    field += b
                elif kind == 'header_value':
                    value += b
                continue
            if line.endswith('header_value complete'):
                cur['trailers' if cur['hc'] else 'headers'].append((field, value))
                field, value = b'', b''
                continue
            m = HC.match(line)
            if m:
                cur['hc'] = m
                continue
            if line.endswith('message complete'):
                cur['complete'] = 1
        for m in msgs:
            hc = m['hc']
            if hc is None:
                continue
            out.append('msg method=%s url=%s version=%s status=%s flags=%s cl=%s complete=%d' % (
                hx(m['method']), hx(m['url']), hx(m['version']), hc.group(3) or '0', hc.group(6), hc.group(7),
                m['complete']))
            for f, v in m['headers']:
                out.append('h %s %s' % (hx(f), hx(v)))
            for f, v in m['trailers']:
                out.append('t %s %s' % (hx(f), hx(v)))
            out.append('body ' + hx(m['body']))
        out.append('end')
    sys.stdout.write('\n'.join(out) + '\n')

main()
