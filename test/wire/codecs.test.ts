import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeClusterService,
  decodeIdentityEntry,
  decodeIPIdentityPair,
  decodeNode,
  decodeServiceExport,
  encodeClusterService,
  encodeIPIdentityPair,
  encodeNode,
  encodeServiceExport,
  formatRfc3339,
  goString,
  ipcacheKeyName,
  MalformedValueError,
  parseRfc3339,
  ValidationError,
  type ClusterService,
  type IPIdentityPair,
  type Node,
  type ServiceExport,
} from '../../src/wire/index.js';

const minimalNode: Node = {
  Name: 'n1',
  Cluster: 'east',
  IPAddresses: null,
  IPv4AllocCIDR: null,
  IPv4SecondaryAllocCIDRs: null,
  IPv6AllocCIDR: null,
  IPv6SecondaryAllocCIDRs: null,
  IPv4HealthIP: '',
  IPv6HealthIP: '',
  IPv4IngressIP: '',
  IPv6IngressIP: '',
  ClusterID: 7,
  Source: 'custom-resource',
  EncryptionKey: 0,
  Labels: null,
  Annotations: null,
  WireguardPubKey: '',
  BootID: '',
};

describe('Go-compatible JSON strings', () => {
  it('escapes <, >, &, U+2028 and U+2029 like Go, and control characters like JSON.stringify', () => {
    assert.equal(goString('a<b>&c\u2028\u2029'), '"a\\u003cb\\u003e\\u0026c\\u2028\\u2029"');
    assert.equal(goString('q"\\\n\t\u0001'), '"q\\"\\\\\\n\\t\\u0001"');
    // Every ASCII character, alone and inside a plain string, and a few beyond: the fast path for plain strings
    // must agree with JSON.stringify plus Go's HTML escapes.
    const goEscaped = (x: string): string =>
      JSON.stringify(x).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    for (let c = 0; c < 0x80; c++) {
      for (const x of [String.fromCharCode(c), `web-${String.fromCharCode(c)}-1`])
        assert.equal(goString(x), goEscaped(x));
    }
    for (const x of ['h\u00e9llo', '\u{1F600}', '\ud800', 'a\u007fb', '']) assert.equal(goString(x), goEscaped(x));
  });
});

describe('node codec', () => {
  it('writes nil maps and slices as null and sorts map keys', () => {
    const n: Node = {
      ...minimalNode,
      Labels: { b: '2', a: '1', 'a.b/c': 'x' },
      Annotations: {},
      IPv4SecondaryAllocCIDRs: [],
    };
    const wire = encodeNode(n);
    assert.match(wire, /"Labels":\{"a":"1","a\.b\/c":"x","b":"2"\},"Annotations":null/);
    assert.match(wire, /"IPv4SecondaryAllocCIDRs":\[\]/);
    assert.match(wire, /^\{"Name":"n1","Cluster":"east","IPAddresses":null,"IPv4AllocCIDR":null,/);
  });

  it('round-trips and fills absent fields with Go zero values, ignoring unknown ones', () => {
    assert.deepEqual(decodeNode(encodeNode(minimalNode)), minimalNode);
    const sparse = decodeNode(
      '{"Name":"n1","Cluster":"east","ClusterID":7,"Source":"custom-resource","NodeIdentity":5,"Future":{"x":1}}',
    );
    assert.deepEqual(sparse, minimalNode);
  });

  it('canonicalises IPs as Go re-encoding would', () => {
    const n = decodeNode(
      '{"Name":"n","Cluster":"c","IPAddresses":[{"Type":"InternalIP","IP":"FD00:0:0::1"}],"IPv6HealthIP":"FD00::2"}',
    );
    assert.equal(n.IPAddresses![0]!.IP, 'fd00::1');
    assert.equal(n.IPv6HealthIP, 'fd00::2');
  });

  const bad: [string, string, RegExp][] = [
    ['empty Name', '{"Name":"","Cluster":"c"}', /field "Name" must not be empty/],
    ['missing Cluster', '{"Name":"n"}', /field "Cluster" must not be empty/],
    ['malformed JSON', '{"Name":', /node value is not valid JSON/],
    [
      'bad IP',
      '{"Name":"n","Cluster":"c","IPv4HealthIP":"10.0.0.256"}',
      /field "IPv4HealthIP" is not a valid IP address: "10.0.0.256"/,
    ],
    [
      'bad address',
      '{"Name":"n","Cluster":"c","IPAddresses":[{"Type":"InternalIP","IP":"x"}]}',
      /IPAddresses\[0\]\.IP" is not a valid IP address: "x"/,
    ],
    [
      'bad CIDR mask',
      '{"Name":"n","Cluster":"c","IPv4AllocCIDR":{"IP":"10.0.0.0","Mask":"/wD/AA=="}}',
      /IPv4AllocCIDR" mask "\/wD\/AA==" is not a contiguous prefix mask/,
    ],
    [
      'CIDR family mismatch',
      '{"Name":"n","Cluster":"c","IPv6AllocCIDR":{"IP":"fd00::","Mask":"////AA=="}}',
      /expected 16 for an IPv6 address/,
    ],
    [
      'wrong type',
      '{"Name":"n","Cluster":"c","ClusterID":"7"}',
      /field "ClusterID" must be an integer in 0..4294967295, got "7"/,
    ],
    [
      'EncryptionKey > 255',
      '{"Name":"n","Cluster":"c","EncryptionKey":256}',
      /field "EncryptionKey" must be an integer in 0..255, got 256/,
    ],
    ['label not a string', '{"Name":"n","Cluster":"c","Labels":{"a":1}}', /field "Labels.a" must be a string, got 1/],
  ];
  for (const [what, json, msg] of bad) {
    it(`rejects ${what}`, () => {
      assert.throws(
        () => decodeNode(json),
        (e: unknown) => e instanceof MalformedValueError && msg.test(e.message),
      );
    });
  }
});

describe('ipcache codec', () => {
  const host: IPIdentityPair = { IP: '10.0.0.1', HostIP: '192.168.1.1', ID: 70000, Key: 0, Metadata: '' };

  it('omits empty omitempty fields, keeps Metadata, and writes Mask as null for a host entry', () => {
    assert.equal(
      encodeIPIdentityPair(host),
      '{"IP":"10.0.0.1","Mask":null,"HostIP":"192.168.1.1","ID":70000,"Key":0,"Metadata":""}',
    );
    assert.equal(encodeIPIdentityPair({ ...host, NamedPorts: [], K8sPodName: '' }), encodeIPIdentityPair(host));
  });

  it('ignores a pod UID field from an older writer (Cilium 1.20 has none)', () => {
    const old = '{"IP":"10.0.0.1","HostIP":"192.168.1.1","ID":70000,"Key":0,"Metadata":"","K8sPodUID":"u-1"}';
    const pair = decodeIPIdentityPair(old, '10.0.0.1');
    assert.deepEqual(pair, host);
    assert.doesNotMatch(encodeIPIdentityPair(pair), /K8sPodUID/, 'the re-encoded value carries no pod UID');
  });

  it('encodes and keys CIDR entries with their mask', () => {
    const cidr: IPIdentityPair = { ...host, IP: '10.1.0.0', Mask: '//8AAA==', HostIP: '' };
    assert.equal(
      encodeIPIdentityPair(cidr),
      '{"IP":"10.1.0.0","Mask":"//8AAA==","HostIP":"","ID":70000,"Key":0,"Metadata":""}',
    );
    assert.equal(ipcacheKeyName(cidr), '10.1.0.0/16');
    assert.deepEqual(decodeIPIdentityPair(encodeIPIdentityPair(cidr), '10.1.0.0/16'), cidr);
  });

  it('round-trips, accepting a null Mask and unknown fields', () => {
    assert.deepEqual(decodeIPIdentityPair(encodeIPIdentityPair(host), '10.0.0.1'), host);
    assert.deepEqual(
      decodeIPIdentityPair(
        '{"IP":"10.0.0.1","Mask":null,"HostIP":"192.168.1.1","ID":70000,"Key":0,"Metadata":"","New":true}',
      ),
      host,
    );
    assert.deepEqual(decodeIPIdentityPair(Buffer.from('{"IP":"10.0.0.1","ID":5}')), {
      IP: '10.0.0.1',
      HostIP: '',
      ID: 5,
      Key: 0,
      Metadata: '',
    });
  });

  const bad: [string, string, string | undefined, RegExp][] = [
    [
      'a key/value mismatch',
      encodeIPIdentityPair(host),
      '10.0.0.2',
      /ipcache key suffix "10.0.0.2" does not match the value's address "10.0.0.1"/,
    ],
    [
      'a host key for a CIDR entry',
      '{"IP":"10.1.0.0","Mask":"//8AAA==","ID":1}',
      '10.1.0.0',
      /does not match the value's address "10.1.0.0\/16"/,
    ],
    [
      'an invalid IP',
      '{"IP":"10.0.0.300","ID":1}',
      undefined,
      /field "IP" must be a valid IP address, got "10.0.0.300"/,
    ],
    ['a missing IP', '{"ID":1}', undefined, /field "IP" must be a valid IP address, got nothing/],
    [
      'an invalid HostIP',
      '{"IP":"10.0.0.1","HostIP":"nope","ID":1}',
      undefined,
      /field "HostIP" must be a valid IP address, got "nope"/,
    ],
    [
      'an invalid mask',
      '{"IP":"10.0.0.0","Mask":"AP8AAA==","ID":1}',
      undefined,
      /"AP8AAA==" is not a contiguous prefix mask/,
    ],
    ['a negative ID', '{"IP":"10.0.0.1","ID":-1}', undefined, /field "ID" must be an integer in 0..4294967295, got -1/],
    [
      'a port out of range',
      '{"IP":"10.0.0.1","ID":1,"NamedPorts":[{"Name":"x","Port":70000,"Protocol":"TCP"}]}',
      undefined,
      /NamedPorts\[0\]: field "Port" must be an integer in 0..65535/,
    ],
    ['malformed JSON', '{', undefined, /ipcache value is not valid JSON/],
  ];
  for (const [what, json, suffix, msg] of bad) {
    it(`rejects ${what}`, () => {
      assert.throws(
        () => decodeIPIdentityPair(json, suffix),
        (e: unknown) => e instanceof Error && msg.test(e.message),
      );
    });
  }
  it('classifies a key mismatch as a ValidationError and bad JSON as MalformedValueError', () => {
    assert.throws(() => decodeIPIdentityPair(encodeIPIdentityPair(host), 'x'), ValidationError);
    assert.throws(() => decodeIPIdentityPair('nope'), MalformedValueError);
  });
});

describe('cluster service codec', () => {
  const svc: ClusterService = {
    cluster: 'east',
    namespace: 'shop',
    name: 'cart',
    frontends: { '10.96.40.2': { '': { Protocol: 'TCP', Port: 80 }, grpc: { Protocol: 'TCP', Port: 9000 } } },
    backends: {
      '10.70.3.31': { grpc: { Protocol: 'TCP', Port: 9090 } },
      '10.70.3.30': { grpc: { Protocol: 'TCP', Port: 9090 } },
    },
    hostnames: { '10.70.3.30': 'cart-0' },
    zones: { '10.70.3.30': { zone: 'a', forZones: [{ name: 'a' }] } },
    labels: {},
    selector: {},
    includeExternal: true,
    shared: false,
    clusterID: 7,
  };

  it('sorts maps, keeps unnamed ports under "" and writes empty labels/selector as {}', () => {
    assert.equal(
      encodeClusterService(svc),
      '{"cluster":"east","namespace":"shop","name":"cart",' +
        '"frontends":{"10.96.40.2":{"":{"Protocol":"TCP","Port":80},"grpc":{"Protocol":"TCP","Port":9000}}},' +
        '"backends":{"10.70.3.30":{"grpc":{"Protocol":"TCP","Port":9090}},"10.70.3.31":{"grpc":{"Protocol":"TCP","Port":9090}}},' +
        '"hostnames":{"10.70.3.30":"cart-0"},"zones":{"10.70.3.30":{"zone":"a","forZones":[{"name":"a"}]}},' +
        '"labels":{},"selector":{},"includeExternal":true,"shared":false,"clusterID":7}',
    );
  });

  it('round-trips and omits empty hostnames and zones', () => {
    assert.deepEqual(decodeClusterService(encodeClusterService(svc)), svc);
    const bare = { ...svc, hostnames: {}, zones: {} };
    assert.doesNotMatch(encodeClusterService(bare), /hostnames|zones/);
    const decoded = decodeClusterService('{"cluster":"east","namespace":"shop","name":"cart","clusterID":7}');
    assert.deepEqual(decoded.frontends, {});
    assert.equal(
      encodeClusterService(decoded),
      '{"cluster":"east","namespace":"shop","name":"cart","frontends":{},"backends":{},"labels":{},"selector":{},"includeExternal":false,"shared":false,"clusterID":7}',
    );
  });

  const bad: [string, string, RegExp][] = [
    ['missing name', '{"cluster":"east","namespace":"shop"}', /field "name" must not be empty/],
    [
      'a bad backend address',
      '{"cluster":"e","namespace":"s","name":"n","backends":{"10.0.0.x":{}}}',
      /field "backends" has key "10.0.0.x", which is not a valid IP address/,
    ],
    [
      'an IPv6 zone',
      '{"cluster":"e","namespace":"s","name":"n","frontends":{"fe80::1%eth0":{}}}',
      /not a valid IP address/,
    ],
    [
      'a bad port',
      '{"cluster":"e","namespace":"s","name":"n","frontends":{"10.0.0.1":{"http":{"Protocol":"TCP","Port":"80"}}}}',
      /field "Port" must be an integer in 0..65535, got "80"/,
    ],
  ];
  for (const [what, json, msg] of bad)
    it(`rejects ${what}`, () => {
      assert.throws(() => decodeClusterService(json), msg);
    });
});

describe('service export codec', () => {
  const se: ServiceExport = {
    cluster: 'east',
    name: 'cart',
    namespace: 'shop',
    annotations: { 'service.cilium.io/global-sync-endpoint-slices': 'true' },
    labels: { app: 'cart' },
    exportCreationTimestamp: '2024-07-07T13:55:07Z',
    ports: [{ name: 'grpc', protocol: 'TCP', port: 9000 }, { port: 53 }],
    type: 'ClusterSetIP',
    sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
  };

  it('encodes fields in Cilium 1.20 order, legacy copies and 1.19 fields included, and round-trips', () => {
    const full: ServiceExport = {
      ...se,
      ipFamilies: ['IPv4', 'IPv6'],
      internalTrafficPolicy: 'Local',
      trafficDistribution: 'PreferClose',
    };
    const wire = encodeServiceExport(full);
    assert.equal(
      wire,
      '{"cluster":"east","name":"cart","namespace":"shop","annotations":{"service.cilium.io/global-sync-endpoint-slices":"true"},' +
        '"labels":{"app":"cart"},"Labels":{"app":"cart"},"Annotations":{"service.cilium.io/global-sync-endpoint-slices":"true"},' +
        '"exportCreationTimestamp":"2024-07-07T13:55:07Z","ports":[{"name":"grpc","protocol":"TCP","port":9000},{"port":53}],' +
        '"type":"ClusterSetIP","sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":10800}},' +
        '"ipFamilies":["IPv4","IPv6"],"internalTrafficPolicy":"Local","trafficDistribution":"PreferClose"}',
    );
    assert.deepEqual(decodeServiceExport(wire), full);
  });

  it('omits empty annotations, labels (and their legacy copies), affinity config and the 1.19 fields', () => {
    const bare: ServiceExport = { ...se, annotations: {}, sessionAffinity: 'None', ipFamilies: [] };
    delete bare.labels;
    delete bare.sessionAffinityConfig;
    const wire = encodeServiceExport(bare);
    assert.doesNotMatch(
      wire,
      /annotations|labels|Annotations|Labels|sessionAffinityConfig|ipFamilies|internalTrafficPolicy|trafficDistribution/,
    );
    delete bare.annotations;
    delete bare.ipFamilies;
    assert.deepEqual(decodeServiceExport(wire), bare);
  });

  it('writes sessionAffinityConfig only when clientIP.timeoutSeconds is set', () => {
    for (const cfg of [{}, { clientIP: {} }]) {
      assert.doesNotMatch(
        encodeServiceExport({ ...se, sessionAffinityConfig: cfg }),
        /sessionAffinityConfig/,
        `no config written for ${JSON.stringify(cfg)}`,
      );
    }
  });

  it('reads the legacy upper-case copies when the lower-case maps are absent', () => {
    const legacy = JSON.stringify({
      ...se,
      labels: undefined,
      annotations: undefined,
      Labels: { a: 'b' },
      Annotations: { c: 'd' },
    });
    const got = decodeServiceExport(legacy);
    assert.deepEqual([got.labels, got.annotations], [{ a: 'b' }, { c: 'd' }]);
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['an unknown type', { type: 'LoadBalancer' }, /field "type" must be ClusterSetIP or Headless, got "LoadBalancer"/],
    ['an unknown affinity', { sessionAffinity: 'Sticky' }, /field "sessionAffinity" must be None or ClientIP/],
    [
      'a missing timestamp',
      { exportCreationTimestamp: null },
      /field "exportCreationTimestamp" must be an RFC 3339 time, got null/,
    ],
    ['an empty namespace', { namespace: '' }, /field "namespace" must not be empty/],
    ['an unknown internalTrafficPolicy', { internalTrafficPolicy: 'Node' }, /field "internalTrafficPolicy" must be/],
    ['an unknown trafficDistribution', { trafficDistribution: 'Anywhere' }, /field "trafficDistribution" must be/],
  ];
  for (const [what, patch, msg] of bad) {
    it(`rejects ${what}`, () => {
      assert.throws(() => decodeServiceExport(JSON.stringify({ ...se, ...patch })), msg);
    });
  }
});

describe('identities and timestamps', () => {
  it('decodes identity master keys and rejects empty or non-numeric ones', () => {
    assert.deepEqual(decodeIdentityEntry('65537', 'k8s:app=x;'), {
      id: 65537,
      labels: [{ source: 'k8s', key: 'app', value: 'x' }],
    });
    assert.throws(() => decodeIdentityEntry('65537', ';'), /holds no labels/);
    assert.throws(() => decodeIdentityEntry('abc', 'k8s:app=x;'), /"abc" is not a decimal number/);
  });

  it('writes RFC 3339 UTC seconds and parses offsets', () => {
    assert.equal(formatRfc3339(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))), '2024-01-02T03:04:05Z');
    assert.equal(parseRfc3339('2024-07-07T15:55:07.627472784+02:00').toISOString(), '2024-07-07T13:55:07.627Z');
    assert.throws(() => parseRfc3339('yesterday'), /"yesterday" is not RFC 3339/);
  });
});
