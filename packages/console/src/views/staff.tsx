export function StaffDesk({ route }: { route: string[] }) {
  return (
    <section aria-labelledby="staff-heading">
      <h2 id="staff-heading">Back office</h2>
      <p class="muted">{route.join("/")}</p>
    </section>
  );
}
