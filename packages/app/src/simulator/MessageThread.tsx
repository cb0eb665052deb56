import { Box, Button, Group, Paper, ScrollArea, Stack, Text, Textarea } from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useCallback, useEffect, useState } from 'react';
import { type HandsetMessage, simulatorApi, type TextChannel } from './simulator-api';

/** How often the thread is read again: replies and delivery statuses arrive on their own. */
const POLL_MS = 2000;

interface MessageThreadProps {
  phone: string;
  channel: TextChannel;
}

/** The handset's conversation on one channel, as the patient sees it, with a box to reply. */
export function MessageThread({ phone, channel }: MessageThreadProps) {
  const medplum = useMedplum();
  const [messages, setMessages] = useState<HandsetMessage[]>([]);
  const [draft, setDraft] = useState('');
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string>();

  const refresh = useCallback(async () => {
    const all = await simulatorApi.thread(medplum, phone);
    setMessages(all.filter((m) => m.medium === channel.medium));
  }, [medplum, phone, channel.medium]);

  useEffect(() => {
    let stopped = false;
    const tick = () => {
      refresh()
        .then(() => setError(undefined))
        .catch((err: unknown) => !stopped && setError(normalizeErrorString(err)));
    };
    tick();
    const timer = setInterval(tick, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [refresh]);

  const send = async () => {
    setSending(true);
    try {
      await simulatorApi.text(medplum, phone, channel.id, draft);
      setDraft('');
      await refresh();
      setError(undefined);
    } catch (err) {
      setError(normalizeErrorString(err));
    } finally {
      setSending(false);
    }
  };

  return (
    <Stack gap="sm">
      <ScrollArea h={360} type="auto" data-testid="thread">
        <Stack gap={6} p="xs">
          {messages.length === 0 && (
            <Text c="dimmed" size="sm">
              No messages yet between {phone} and {channel.address}.
            </Text>
          )}
          {messages.map((m) => (
            <Group key={m.sid} justify={m.direction === 'in' ? 'flex-end' : 'flex-start'}>
              <Paper
                data-testid={m.direction === 'in' ? 'message-from-phone' : 'message-to-phone'}
                p="xs"
                radius="md"
                maw="80%"
                bg={m.direction === 'in' ? 'green.1' : 'gray.1'}
              >
                <Text size="sm" style={{ whiteSpace: 'pre-wrap' }}>
                  {m.body}
                </Text>
                <Text size="xs" c="dimmed" ta="right">
                  {new Date(m.date).toLocaleTimeString()} · {m.status}
                  {m.errorCode ? ` · error ${m.errorCode}` : ''}
                </Text>
              </Paper>
            </Group>
          ))}
        </Stack>
      </ScrollArea>
      <Box>
        <Textarea
          label={`Text from ${phone}`}
          placeholder="Type a reply, or STOP, START, HELP"
          value={draft}
          onChange={(e) => setDraft(e.currentTarget.value)}
          autosize
          minRows={2}
          maxLength={1600}
        />
        <Group justify="space-between" mt="xs">
          <Text size="xs" c={error ? 'red' : 'dimmed'}>
            {error ?? `${draft.length} / 1600 characters`}
          </Text>
          <Button onClick={() => void send()} loading={sending} disabled={draft.trim() === ''}>
            Send
          </Button>
        </Group>
      </Box>
    </Stack>
  );
}
