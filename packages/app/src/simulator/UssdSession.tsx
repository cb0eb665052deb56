import { Button, Code, Group, Paper, Stack, Text, TextInput } from '@mantine/core';
import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useState } from 'react';
import { simulatorApi, type UssdChannel, type UssdScreen } from './simulator-api';

interface UssdSessionProps {
  phone: string;
  channel: UssdChannel;
}

/**
 * Dialling a USSD code as a basic phone does: each answer goes to the gateway callback with all
 * inputs so far joined by `*`, as Africa's Talking sends them; END closes the session.
 */
export function UssdSession({ phone, channel }: UssdSessionProps) {
  const medplum = useMedplum();
  const [sessionId, setSessionId] = useState<string>();
  const [inputs, setInputs] = useState<string[]>([]);
  const [screen, setScreen] = useState<UssdScreen>();
  const [answer, setAnswer] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const request = async (id: string, nextInputs: string[]) => {
    setBusy(true);
    try {
      const next = await simulatorApi.ussd(medplum, {
        channel: channel.id,
        phone,
        sessionId: id,
        text: nextInputs.join('*'),
      });
      setScreen(next);
      setInputs(nextInputs);
      setAnswer('');
      setError(undefined);
    } catch (err) {
      setError(normalizeErrorString(err));
    } finally {
      setBusy(false);
    }
  };

  const dial = () => {
    const id = `sim-${crypto.randomUUID()}`;
    setSessionId(id);
    void request(id, []);
  };

  const open = screen?.kind === 'CON' && sessionId;
  return (
    <Stack gap="sm">
      <Group>
        <Button onClick={dial} loading={busy && !screen}>
          Dial {channel.serviceCode}
        </Button>
        <Text size="sm" c="dimmed">
          from {phone}
        </Text>
      </Group>
      {screen && (
        <Paper withBorder p="md" maw={320} bg="dark.7" c="gray.0" data-testid="ussd-screen">
          <Code block bg="transparent" c="inherit" style={{ whiteSpace: 'pre-wrap', fontSize: 14 }}>
            {screen.text}
          </Code>
          {screen.kind === 'END' && (
            <Text size="xs" c="gray.5" mt="xs">
              Session ended
            </Text>
          )}
        </Paper>
      )}
      {open && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void request(sessionId, [...inputs, answer.trim()]);
          }}
        >
          <Group align="flex-end" maw={320}>
            <TextInput
              label="Answer"
              value={answer}
              onChange={(e) => setAnswer(e.currentTarget.value)}
              style={{ flex: 1 }}
              autoFocus
            />
            <Button type="submit" loading={busy} disabled={answer.trim() === ''}>
              Send
            </Button>
          </Group>
        </form>
      )}
      {error && (
        <Text size="sm" c="red">
          {error}
        </Text>
      )}
    </Stack>
  );
}
