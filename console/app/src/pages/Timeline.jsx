// A patient's timeline: Medplum's ResourceTimeline as its PatientTimeline
// sets it up (the patient's history, their Communications, reports, files
// and requests; a comment box; an attach button that uploads the file as a
// Binary with the patient as its securityContext and posts a Media), but
// asking only for the types the user's access policy lets them read. Medplum's
// PatientTimeline searches all nine types and ignores the refusals; here
// each refusal would be a 403 on the user's audit trail every time they
// open a patient.
import { canReadResourceType, createReference } from '@medplum/core';
import { ResourceTimeline } from '@medplum/react';
import { useCallback } from 'react';

// The searches of Medplum's PatientTimeline, by the type they read.
const SEARCHES = [
  ['ClinicalImpression', 'subject'],
  ['Communication', 'subject'],
  ['Device', 'patient'],
  ['DeviceRequest', 'patient'],
  ['DiagnosticReport', 'subject'],
  ['Media', 'subject'],
  ['ServiceRequest', 'subject'],
  ['Task', 'subject'],
];

export function PatientTimeline({ patient }) {
  const load = useCallback((medplum, resourceType, id) => {
    const ref = `${resourceType}/${id}`;
    const policy = medplum.getAccessPolicy();
    const readable = (type) => !policy || canReadResourceType(policy, type);
    return Promise.allSettled([
      medplum.readHistory('Patient', id),
      ...SEARCHES.filter(([type]) => readable(type)).map(([type, param]) => medplum.search(type, { [param]: ref, _count: 100 })),
    ]);
  }, []);

  return (
    <div data-testid="timeline">
      <ResourceTimeline
        value={patient}
        loadTimelineResources={load}
        createCommunication={(resource, sender, text) => ({
          resourceType: 'Communication',
          status: 'completed',
          subject: createReference(resource),
          sender: createReference(sender),
          sent: new Date().toISOString(),
          payload: [{ contentString: text }],
        })}
        createMedia={(resource, operator, content) => ({
          resourceType: 'Media',
          status: 'completed',
          subject: createReference(resource),
          operator: createReference(operator),
          issued: new Date().toISOString(),
          content,
        })}
      />
    </div>
  );
}
