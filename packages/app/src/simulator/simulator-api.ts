import type { MedplumClient } from '@medplum/core';

/** What GET /messaging/simulator answers: the project's channels the simulator can play. */
export interface SimulatorChannels {
  channels: TextChannel[];
  ussd?: UssdChannel[];
}

export interface TextChannel {
  id: string;
  name: string;
  medium: 'sms' | 'whatsapp';
  address: string;
}

export interface UssdChannel {
  id: string;
  name: string;
  serviceCode: string;
}

/** A message as the handset sees it. */
export interface HandsetMessage {
  sid: string;
  direction: 'in' | 'out';
  medium: 'sms' | 'whatsapp';
  channel: string;
  body: string;
  status: string;
  errorCode: number | null;
  date: string;
}

export interface UssdScreen {
  kind: 'CON' | 'END';
  text: string;
}

/** The simulator's server API (packages/server/src/messaging/simulator), with the page's session. */
export const simulatorApi = {
  channels: (medplum: MedplumClient) => medplum.get<SimulatorChannels>('messaging/simulator', { cache: 'no-cache' }),
  thread: async (medplum: MedplumClient, phone: string) =>
    (
      await medplum.get<{ messages: HandsetMessage[] }>(
        `messaging/simulator/thread?phone=${encodeURIComponent(phone)}`,
        { cache: 'no-cache' }
      )
    ).messages,
  text: (medplum: MedplumClient, from: string, channel: string, body: string) =>
    medplum.post<{ replies: HandsetMessage[] }>('messaging/simulator/messages', { from, channel, body }),
  ussd: (medplum: MedplumClient, input: { channel: string; phone: string; sessionId: string; text: string }) =>
    medplum.post<UssdScreen>('messaging/simulator/ussd', input),
};
