// A table of one page of search results with a loading overlay, an empty
// state and a pager; rowProps(r) adds attributes to a row (a highlight).
import { Group, LoadingOverlay, Pagination, Table, Text } from '@mantine/core';

export function PagedTable({ result, columns, rowKey = (r) => r.id, onRowClick, rowProps, testId }) {
  const { loading, resources, total, page, pages, setPage } = result;
  return (
    <div style={{ position: 'relative' }}>
      <LoadingOverlay visible={loading} />
      <Table striped highlightOnHover data-testid={testId} data-loaded={loading ? 'false' : 'true'}>
        <Table.Thead>
          <Table.Tr>
            {columns.map((c) => (
              <Table.Th key={c.title}>{c.title}</Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {resources.map((r) => (
            <Table.Tr
              key={rowKey(r)}
              onClick={onRowClick ? () => onRowClick(r) : undefined}
              style={onRowClick ? { cursor: 'pointer' } : undefined}
              {...rowProps?.(r)}
            >
              {columns.map((c) => (
                <Table.Td key={c.title}>{c.render(r)}</Table.Td>
              ))}
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {!loading && resources.length === 0 && (
        <Text c="dimmed" ta="center" py="md">
          Nothing here yet.
        </Text>
      )}
      <Group justify="space-between" mt="sm">
        <Text size="sm" c="dimmed">
          {total} in all
        </Text>
        {pages > 1 && <Pagination total={pages} value={page} onChange={setPage} size="sm" />}
      </Group>
    </div>
  );
}
