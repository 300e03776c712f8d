import { createHttpMemberClient } from '../etcd/http/client.ts';
import { createV2MemberClient } from '../etcd/v2/client.ts';
import { createV3MemberClient } from '../etcd/v3/client.ts';
import type { ClientFactory } from './connection.ts';

/** The real access layer. */
export const etcdClients: ClientFactory = {
  v3: createV3MemberClient,
  http: createHttpMemberClient,
  v2: createV2MemberClient,
};
